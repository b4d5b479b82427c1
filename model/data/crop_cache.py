"""Decoded-crop cache: every sample's three aligned crops, decoded once, reused by every later run.

Per split and preprocessing, one uint8 ``.npy`` of shape ``(N, 3, Hc, Wc, 3)`` holds, for each
sample, the crops at t-delta, t, t+delta taken with the key frame's enlarged box at the input
resolution times `CACHE_MARGIN` (so scale/rotation augmentation, applied at load time to the cached
crop, rarely runs out of context). A JSON sidecar records its sha256 and its content key; a damaged
file (wrong size or content key) is detected on open and rebuilt with a warning.

The content key (`content_key`) is the full sha256 for a file up to `FULL_HASH_MAX` bytes; above
that (the `paper` preset's caches are GBs: hashing 4 GB takes seconds on every open of every trial)
it is the sha256 of the size and `SAMPLED_BLOCKS` blocks spread evenly over the file, the first and
last included: a truncated or re-written file is always caught, a flipped byte only when it falls in
a sampled block. The full sha256 is still computed once, when the cache is built.

Key = sha256 of (dataset fingerprint, split, input size, delta, margin, box enlargement, format, and
the loader's `LOADER_FORMAT`: how the same annotation bytes are read into samples).
The dataset fingerprint hashes every annotation JSON's bytes and each image's (name, size): cheap
on a real PoseTrack18 copy, and it changes whenever the data changes.

Building is safe under concurrent callers: a file lock serialises builders, the array is written to
a temporary file and renamed into place, and the sidecar (written last) marks it complete. The
temporaries of a builder that was killed are removed by the next open of the same cache.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from tipsd.model.data.geometry import BOX_ENLARGE, box_center_size, crop_affine, warp
from tipsd.model.data.posetrack import LOADER_FORMAT, Sample, frame_order, person_box, split_dirs
from tipsd.model.data.resolve import cache_root, file_lock, remove_stale_temporaries, remove_temporaries
from tipsd.model.errors import DataError

CACHE_MARGIN = 1.25  # cached crops cover the input box times this (context for augmentation)
CACHE_FORMAT = 1  # bump when the cached layout changes
FULL_HASH_MAX = 64 << 20  # files up to this size are hashed whole on every open (well under 0.1 s)
SAMPLED_BLOCKS, BLOCK_BYTES = 256, 64 << 10  # above it: 16 MiB read, spread over the file


def cache_shape(input_size: tuple[int, int], margin: float = CACHE_MARGIN) -> tuple[int, int]:
    """``(Hc, Wc)`` of a cached crop: the input size plus an even border, so no-augmentation crops
    are exact slices of the cached crop.

    Example:
        >>> cache_shape((128, 96))
        (160, 120)
    """
    h, w = input_size
    return h + 2 * int(round(h * (margin - 1) / 2)), w + 2 * int(round(w * (margin - 1) / 2))


def decode_image(path: Path) -> np.ndarray:
    """Decode an image file to uint8 ``(h, w, 3)`` RGB (the one place images are decoded)."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise DataError(f"image file {path} is missing") from None
    except OSError as err:
        raise DataError(f"image file {path} cannot be decoded ({err})") from None


def verify_image(path: Path) -> None:
    """Raise `DataError` (the same message as `decode_image`) unless `path` is an image that decodes
    completely: 0-byte, truncated and non-image files are caught. JPEGs are decoded at 1/8 scale
    (every byte is still read), so checking a dataset costs a fraction of loading it."""
    try:
        with Image.open(path) as im:
            im.draft("RGB", (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
    except FileNotFoundError:
        raise DataError(f"image file {path} is missing") from None
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise DataError(f"image file {path} cannot be decoded ({err})") from None


def dataset_fingerprint(root: str | Path, split: str) -> str:
    """sha256 over the split's annotation files (bytes) and its image files (name and size)."""
    ann_dir, image_root = split_dirs(root, split)
    h = hashlib.sha256()
    for f in sorted(ann_dir.glob("*.json")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    img_dir = image_root / "images" / split
    if img_dir.is_dir():
        for dirpath, _, files in sorted(os.walk(img_dir)):
            for name in sorted(files):
                p = Path(dirpath) / name
                h.update(f"{p.relative_to(img_dir)}:{p.stat().st_size}".encode())
    return h.hexdigest()


def sample_box(video: dict, sample: Sample, input_size: tuple[int, int],
               enlarge: float = BOX_ENLARGE) -> tuple[float, float, float]:
    """``(cx, cy, pixel_size)`` of a sample's key-frame box: enlarged, at the crop aspect ratio."""
    ann = video["annotations"][sample.anns[1]]
    h, w = input_size
    cx, cy, bw, _ = box_center_size(person_box(ann), w / h, enlarge)
    return cx, cy, bw / w


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def content_key(path: Path, full_max: int | None = None) -> str:
    """The cache file's content key: its sha256 up to `full_max` bytes (default `FULL_HASH_MAX`), else
    ``"sampled:" +`` the sha256 of its size and `SAMPLED_BLOCKS` evenly spaced blocks of `BLOCK_BYTES`."""
    size = path.stat().st_size
    if size <= (FULL_HASH_MAX if full_max is None else full_max):
        return _file_sha256(path)
    h = hashlib.sha256(str(size).encode())
    last = max(0, size - BLOCK_BYTES)
    with open(path, "rb") as fh:
        for i in range(SAMPLED_BLOCKS):
            fh.seek(last * i // (SAMPLED_BLOCKS - 1))
            h.update(fh.read(BLOCK_BYTES))
    return "sampled:" + h.hexdigest()


def _build(out: np.ndarray, root: Path, split: str, videos: list[dict], samples: list[Sample],
           input_size: tuple[int, int], enlarge: float = BOX_ENLARGE) -> None:
    """Fill ``out`` (N, 3, Hc, Wc, 3) with the crops; each image is decoded once."""
    _, image_root = split_dirs(root, split)
    hc, wc = out.shape[2:4]
    decoded: dict[tuple[int, int], np.ndarray] = {}
    current_video = -1
    orders: dict[int, list[int]] = {}
    for n, s in enumerate(samples):
        if s.video != current_video:  # samples come in video order: free the previous video's frames
            decoded.clear()
            current_video = s.video
        video = videos[s.video]
        order = orders.setdefault(s.video, frame_order(video))
        cx, cy, ps = sample_box(video, s, input_size, enlarge)
        a = crop_affine((cx, cy), ps, (hc, wc))
        for f, pos in enumerate(s.frames):
            if (s.video, pos) not in decoded:
                img = video["images"][order[pos]]
                path = image_root / img["file_name"]
                if not path.is_file():
                    raise DataError(f"image file {path} is missing (file_name of image {img['id']} "
                                    f"in {video.get('_file', 'annotations')})")
                decoded[(s.video, pos)] = decode_image(path)
            out[n, f] = warp(decoded[(s.video, pos)], a, (hc, wc))


def load_or_build(root: str | Path, split: str, videos: list[dict], samples: list[Sample],
                  input_size: tuple[int, int], delta: int, cache_dir: str = "",
                  enlarge: float = BOX_ENLARGE) -> tuple[np.ndarray, str]:
    """Open the crop cache of this split and preprocessing, building it if needed.

    Args:
        root: dataset root.
        split: split name.
        videos: `load_split` output for that split.
        samples: `build_samples` output (all samples of the split, in order).
        input_size: ``(H, W)`` of the network input.
        delta: neighbour offset (part of the key: it changes which frames are cropped).
        cache_dir: cache folder ("" = ``$TIPSD_CACHE_DIR`` or ``~/.cache/tipsd``).
        enlarge: factor by which person boxes are enlarged around their centre (part of the key).

    Returns:
        ``(crops, status)``: a read-only memory map ``(N, 3, Hc, Wc, 3)`` uint8, and ``"loaded"``,
        ``"built"`` or ``"rebuilt"`` (a damaged cache was found and replaced).
    """
    root = Path(root)
    hc, wc = cache_shape(input_size)
    key_doc = dict(fingerprint=dataset_fingerprint(root, split), split=split, input_size=list(input_size),
                   delta=delta, margin=CACHE_MARGIN, enlarge=enlarge, format=CACHE_FORMAT, n=len(samples),
                   loader=LOADER_FORMAT)
    key = hashlib.sha256(json.dumps(key_doc, sort_keys=True).encode()).hexdigest()[:24]
    folder = cache_root(cache_dir) / "crops"
    npy, meta = folder / f"{split}-{input_size[0]}x{input_size[1]}-{key}.npy", folder / f"{split}-{key}.json"
    shape = (len(samples), 3, hc, wc, 3)

    lock, temporaries = folder / f".{key}.lock", f".{npy.stem}-"
    crops, problem = _open(npy, meta, shape)
    if crops is not None:
        remove_stale_temporaries(folder, temporaries, lock)
        return crops, "loaded"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cache folder {folder} cannot be created ({err.strerror})") from None
    with file_lock(lock):
        remove_temporaries(folder, temporaries)  # killed builders' (we hold the lock)
        crops, problem = _open(npy, meta, shape)  # built by another process while we waited?
        if crops is not None:
            return crops, "loaded"
        damaged = problem is not None
        if damaged:
            warnings.warn(f"crop cache {npy} is damaged ({problem}); rebuilding it", stacklevel=2)
        fd, tmp = tempfile.mkstemp(prefix=f".{npy.stem}-", suffix=".npy", dir=folder)
        os.close(fd)
        try:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
            _build(out, root, split, videos, samples, input_size, enlarge)
            out.flush()
            del out
            digest, key_now = _file_sha256(Path(tmp)), content_key(Path(tmp))
            os.replace(tmp, npy)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        tmp_meta = meta.with_suffix(".json.tmp")
        tmp_meta.write_text(json.dumps(dict(sha256=digest, content_key=key_now, shape=list(shape), key=key_doc,
                                            file=npy.name)))
        os.replace(tmp_meta, meta)
    # Just written and checksummed: open without hashing it a second time.
    return np.load(npy, mmap_mode="r"), "rebuilt" if damaged else "built"


def _open(npy: Path, meta: Path, shape: tuple[int, ...]) -> tuple[np.ndarray | None, str | None]:
    """Return (memmap, None) if the cache is complete and intact; (None, reason) if damaged;
    (None, None) if it does not exist yet."""
    if not meta.is_file():
        return None, None
    if not npy.is_file():
        return None, "array file missing"
    try:
        info = json.loads(meta.read_text())
        if info.get("shape") != list(shape):
            return None, f"shape {info.get('shape')} != {list(shape)}"
        # Sidecars written before content keys existed hold only the full sha256.
        stored = info.get("content_key") or info.get("sha256")
        now = content_key(npy) if "content_key" in info else _file_sha256(npy)
        if now != stored:
            return None, "checksum mismatch"
        return np.load(npy, mmap_mode="r"), None
    except (ValueError, OSError) as err:
        return None, f"unreadable: {err}"


__all__ = ["CACHE_MARGIN", "cache_shape", "content_key", "dataset_fingerprint", "decode_image", "load_or_build", "sample_box",
           "verify_image"]
