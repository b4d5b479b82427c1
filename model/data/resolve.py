"""Where datasets and caches live, and `resolve_dataset` (generate the synthetic default on first use).

Concurrency: the synthetic dataset is generated into a temporary folder next to its final place
and renamed into place in one step (atomic on POSIX), under an advisory file lock so that a second
process waits for the first instead of generating the same data twice. A folder only counts as
complete when its manifest (written last) exists. A builder that was killed leaves its temporary
behind; the next process that opens the same dataset or crop cache removes it under the lock
(`remove_stale_temporaries`).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from tipsd.model.errors import DataError

SYNTH_PREFIX = "synth:"


def cache_root(cache_dir: str = "") -> Path:
    """The tipsd cache folder: ``cache_dir``, else ``$TIPSD_CACHE_DIR``, else ``~/.cache/tipsd``.

    Example:
        >>> cache_root("/tmp/c")
        PosixPath('/tmp/c')
    """
    if cache_dir:
        return Path(cache_dir).expanduser()
    env = os.environ.get("TIPSD_CACHE_DIR", "")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tipsd"


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if needed) for the ``with`` block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: rely on the atomic rename alone
            yield
            return
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def remove_stale_temporaries(folder: Path, prefix: str, lock: Path) -> int:
    """Delete the temporaries ``folder/prefix*`` (files or folders) that killed builders left.

    Takes `lock` (the builders' lock of that dataset or cache) so that no live builder's temporary is
    touched; call it without holding that lock. Returns how many were removed.
    """
    if not folder.is_dir() or not any(folder.glob(f"{prefix}*")):
        return 0
    with file_lock(lock):
        return remove_temporaries(folder, prefix)


def remove_temporaries(folder: Path, prefix: str) -> int:
    """`remove_stale_temporaries` for a caller that holds the lock already."""
    removed = 0
    for stale in folder.glob(f"{prefix}*"):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
        removed += 1
    return removed


def synth_dataset_dir(preset: str, seed: int = 0, cache_dir: str = "") -> Path:
    """Folder of the cached synthetic dataset ``preset`` (version and seed in the name)."""
    from tipsd.model.data.synth import GENERATOR_VERSION

    return cache_root(cache_dir) / "datasets" / f"synth-{preset}-v{GENERATOR_VERSION}-seed{seed}"


def ensure_synth_dataset(preset: str, seed: int = 0, cache_dir: str = "") -> Path:
    """Return the cached synthetic dataset, generating it first if it is not there.

    Safe when several processes call it at once: one generates, the others wait and reuse.

    Args:
        preset: a synthetic preset name ("tiny", "quick", "paper").
        seed: generator seed.
        cache_dir: cache folder ("" = ``$TIPSD_CACHE_DIR`` or ``~/.cache/tipsd``).

    Returns:
        The dataset root.
    """
    from tipsd.model.data.synth import SYNTH_PRESETS, generate_dataset

    if preset not in SYNTH_PRESETS:
        raise DataError(f"unknown synthetic dataset 'synth:{preset}'; valid: "
                        + ", ".join(f"synth:{p}" for p in SYNTH_PRESETS))
    final = synth_dataset_dir(preset, seed, cache_dir)
    lock = final.parent / f".{final.name}.lock"
    if (final / "tipsd_synth.json").is_file():
        remove_stale_temporaries(final.parent, f".{final.name}-", lock)
        return final
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cache folder {final.parent} cannot be created ({err.strerror})") from None
    with file_lock(lock):
        remove_temporaries(final.parent, f".{final.name}-")  # killed builders' (we hold the lock)
        if (final / "tipsd_synth.json").is_file():  # another process finished while we waited
            return final
        if final.exists():  # a half-written folder from a crash: start over
            shutil.rmtree(final, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
        try:
            generate_dataset(tmp, preset, seed)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final


def resolve_dataset(spec: str, cache_dir: str = "") -> Path:
    """Turn a dataset spec into a folder on disk.

    Args:
        spec: ``"synth:<preset>"`` (optionally ``"synth:<preset>:<seed>"``) for the generated
            dataset, cached on first use; anything else is a PoseTrack18 folder.
        cache_dir: cache folder for generated data ("" = ``$TIPSD_CACHE_DIR`` or ``~/.cache/tipsd``).

    Returns:
        The dataset root.

    Example:
        >>> resolve_dataset("synth:tiny").name  # doctest: +SKIP
        'synth-tiny-v2-seed0'
    """
    if spec.startswith(SYNTH_PREFIX):
        preset, _, seed = spec[len(SYNTH_PREFIX):].partition(":")
        try:
            seed_n = int(seed) if seed else 0
        except ValueError:
            raise DataError(f"dataset {spec!r}: seed {seed!r} is not an integer") from None
        return ensure_synth_dataset(preset, seed_n, cache_dir)
    from tipsd.model.posetrack18 import require_folder

    return require_folder(spec, "dataset", hint=" (use a PoseTrack18 folder or synth:<preset>)")


__all__ = ["cache_root", "ensure_synth_dataset", "file_lock", "remove_stale_temporaries", "remove_temporaries", "resolve_dataset",
           "synth_dataset_dir"]
