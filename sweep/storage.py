"""Open Optuna storage and create or resume a tipsd study in it.

The study records its spec, the spec's hash and the tipsd version as user attributes (schema in
docs/architecture.md). Resuming with a spec whose hash differs is refused, naming what changed.
"""
from __future__ import annotations

import logging
import sqlite3
import time
import warnings
from pathlib import Path
from typing import Any

from tipsd.model.errors import TipsdError
from tipsd.model.record import DEFAULT_STORAGE, sqlite_path
from tipsd.sweep.pruners import build_pruner
from tipsd.sweep.samplers import study_sampler
from tipsd.sweep.spec import StudySpec, spec_diff, spec_hash

# Seconds a SQLite writer waits for the lock before "database is locked"; trials write rarely,
# so a long wait is harmless and several local workers never fail on contention.
SQLITE_TIMEOUT_S = 120


class StorageError(TipsdError):
    """The storage URL is malformed or the database cannot be reached."""


def quiet_optuna() -> None:
    """Silence Optuna's per-trial INFO logs and experimental warnings (tipsd prints its own lines)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # tipsd uses ask/tell and records the heartbeat itself (tipsd.sweep.heartbeat), so this is moot.
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    logging.getLogger("sqlalchemy").setLevel(logging.ERROR)


def resolve_url(cli_url: str | None, spec: StudySpec | None = None) -> str:
    """Pick the storage URL: ``--storage``, else the study file's ``storage``, else `DEFAULT_STORAGE`."""
    return cli_url or (spec.storage if spec is not None and spec.storage else DEFAULT_STORAGE)


def open_storage(url: str, *, heartbeat_s: int | None = None, grace_s: int | None = None,
                 create: bool = True):
    """Connect to `url` and return an `optuna.storages.RDBStorage`.

    Args:
        url: any SQLAlchemy URL Optuna accepts (``sqlite:///x.db``, ``postgresql+psycopg://...``).
        heartbeat_s: heartbeat interval of running trials (None: no heartbeat, e.g. for `status`).
        grace_s: seconds without a heartbeat after which a running trial is failed as stale.
        create: if False, a SQLite file that does not exist is an error instead of being created.

    Returns:
        The storage. Raises `StorageError` (one line) if it cannot be reached.

    Example:
        >>> open_storage("sqlite:///tipsd.db", heartbeat_s=10, grace_s=30)  # doctest: +SKIP
    """
    import optuna
    import sqlalchemy.exc

    quiet_optuna()
    kwargs: dict[str, Any] = {}
    path = sqlite_path(url)
    if path is not None:
        db = Path(path)
        if not db.parent.exists():
            raise StorageError(f"storage {url!r}: folder {str(db.parent)!r} does not exist")
        if not create and not db.exists():
            raise StorageError(f"storage {url!r}: no such database file")
        _enable_wal(db, url)
    if url.startswith("sqlite:"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    elif url.startswith("postgresql"):
        # A dead server should fail fast, not hang the CLI.
        kwargs["engine_kwargs"] = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    for attempt in range(5):
        try:
            return optuna.storages.RDBStorage(
                url, heartbeat_interval=heartbeat_s, grace_period=grace_s, **kwargs)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as err:
            # Workers started together on an empty database race to create Optuna's tables
            # (PostgreSQL: duplicate key in pg_type); the loser retries once the winner is done.
            if attempt == 4:
                reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
                raise StorageError(f"storage {url!r}: cannot create Optuna's tables: {reason}") from None
            time.sleep(0.5 * (attempt + 1))
        except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError, OSError) as err:
            reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
            raise StorageError(f"storage {url!r} is unreachable: {reason}") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _enable_wal(db: Path, url: str) -> None:
    """Switch a SQLite file to WAL journaling so readers (status, dashboard) never block writers."""
    try:
        con = sqlite3.connect(str(db), timeout=SQLITE_TIMEOUT_S)
        try:
            con.execute("PRAGMA journal_mode=WAL")
        finally:
            con.close()
    except sqlite3.Error as err:
        raise StorageError(f"storage {url!r} is unreachable: {err}") from None


def study_attrs(spec: StudySpec, version: str) -> dict[str, Any]:
    """The study-level user attributes tipsd writes (schema in docs/architecture.md)."""
    return {
        "tipsd.spec": spec.raw,
        "tipsd.spec_hash": spec_hash(spec.raw),
        "tipsd.version": version,
        "tipsd.description": spec.description,
        "tipsd.metric": spec.metric,
        "tipsd.direction": spec.direction,
        "tipsd.sampler": spec.sampler,
    }


def create_or_resume(spec: StudySpec, storage, version: str):
    """Create the spec's study in `storage`, or load it if it exists and its spec is unchanged.

    Args:
        spec: the validated study spec.
        storage: an RDBStorage from `open_storage`.
        version: the tipsd version to record.

    Returns:
        The `optuna.Study`, with the spec's sampler and pruner. Raises `StorageError` if the stored
        study was made from a different spec.

    Example:
        >>> study = create_or_resume(load_spec("studies/smoke.toml"), open_storage(url), "0.1.0")  # doctest: +SKIP
    """
    import optuna

    sampler, pruner = study_sampler(spec), build_pruner(spec.pruner)
    try:
        study = optuna.load_study(study_name=spec.name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        study = None
    if study is not None and "tipsd.spec_hash" in study.user_attrs:
        check_unchanged(spec, study)
        return study
    if study is None:
        try:
            study = optuna.create_study(study_name=spec.name, storage=storage, sampler=sampler,
                                        pruner=pruner, direction=spec.direction)
        except optuna.exceptions.DuplicatedStudyError:  # another machine created it just now
            study = optuna.load_study(study_name=spec.name, storage=storage, sampler=sampler, pruner=pruner)
            if "tipsd.spec_hash" in study.user_attrs:
                check_unchanged(spec, study)
                return study
    elif study.trials:
        raise StorageError(f"study {spec.name!r} exists in the storage but was not made by tipsd; "
                           "pick another name in the study file")
    for key, value in study_attrs(spec, version).items():
        study.set_user_attr(key, value)
    study.set_metric_names([spec.metric])
    return study


def check_unchanged(spec: StudySpec, study) -> None:
    """Raise `StorageError` if `study` was created from a spec other than `spec`."""
    stored = study.user_attrs.get("tipsd.spec_hash")
    if stored == spec_hash(spec.raw):
        return
    what = spec_diff(study.user_attrs.get("tipsd.spec", {}), spec.raw)
    raise StorageError(
        f"study {spec.name!r} already exists with a different spec ({what}); to start a new study "
        f"instead, change name in {spec.path} (e.g. name = \"{spec.name}-v2\") or use another --storage")
