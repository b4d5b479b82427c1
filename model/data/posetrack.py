"""Reading PoseTrack18-format annotation folders for training: split folders, validated videos
(the format itself and its checks: `tipsd.model.posetrack18`), and the top-down samples.

Layout (see docs/architecture.md): ``ROOT/annotations/<split>/<video>.json`` (or
``ROOT/posetrack_data/annotations/...``), image ``file_name`` relative to the folder that holds
``annotations/``. Every problem is a `DataError` naming the file, the field and the value.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tipsd.model.errors import DataError
from tipsd.model.posetrack18 import NUM_KEYPOINTS, check_video, read_video_file, video_files


def split_dirs(root: str | Path, split: str) -> tuple[Path, Path]:
    """Find the annotation folder of ``split`` and the folder image names are relative to.

    Args:
        root: dataset root.
        split: ``"train"`` or ``"val"`` (any folder name under ``annotations/``).

    Returns:
        ``(annotation_dir, image_root)``.

    Example:
        >>> split_dirs("/data/PoseTrack18", "val")  # doctest: +SKIP
        (PosixPath('/data/PoseTrack18/annotations/val'), PosixPath('/data/PoseTrack18'))
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"dataset folder {root} does not exist")
    for base in (root, root / "posetrack_data"):
        ann = base / "annotations" / split
        if ann.is_dir():
            return ann, base
    raise DataError(f"{root}: no annotations/{split}/ folder (nor posetrack_data/annotations/{split}/)")


def load_video(path: str | Path) -> dict:
    """Load and validate one PoseTrack18 video JSON (`tipsd.model.posetrack18.check_video`, with
    everything the loader reads).

    Args:
        path: the ``.json`` file.

    Returns:
        The JSON dict with an extra key ``"_file"`` (its path, for messages).
    """
    doc = read_video_file(path)
    check_video(doc, str(path), dataset=True)
    doc["_file"] = str(path)
    return doc


def load_split(root: str | Path, split: str) -> list[dict]:
    """Load every video JSON of one split, validated.

    Args:
        root: dataset root (PoseTrack18 layout).
        split: ``"train"`` or ``"val"``.

    Returns:
        One dict per video, sorted by file name, each with ``"_file"`` added.

    Example:
        >>> videos = load_split(resolve_dataset("synth:tiny"), "val")  # doctest: +SKIP
        >>> sorted(videos[0])[:2]  # doctest: +SKIP
        ['_file', 'annotations']
    """
    ann_dir, _ = split_dirs(root, split)
    return [load_video(f) for f in video_files(ann_dir).values()]


def keypoint_array(ann: dict) -> np.ndarray:
    """The ``(K, 3)`` float array of an annotation's keypoints (x, y, v); v > 0 means labelled."""
    kp = np.asarray(ann["keypoints"], dtype=np.float32).reshape(NUM_KEYPOINTS, 3)
    kp[:, 2] = (kp[:, 2] > 0).astype(np.float32)
    return kp


def person_box(ann: dict) -> list[float] | None:
    """The annotation's ``bbox`` if usable, else a box around its labelled keypoints, else None."""
    box = ann.get("bbox")
    if box is not None and len(box) == 4 and box[2] > 1 and box[3] > 1:
        return [float(v) for v in box]
    kp = keypoint_array(ann)
    vis = kp[kp[:, 2] > 0, :2]
    if len(vis) == 0:
        return None
    lo, hi = vis.min(0), vis.max(0)
    size = hi - lo
    pad = 0.15 * np.maximum(size, 8.0)  # keypoints hug the body: pad so limbs fit
    return [float(lo[0] - pad[0]), float(lo[1] - pad[1]), float(size[0] + 2 * pad[0]), float(size[1] + 2 * pad[1])]


@dataclass(frozen=True)
class Sample:
    """One top-down sample: a labelled person at a labelled key frame, plus its neighbour frames."""

    video: int  # index into the split's video list
    frames: tuple[int, int, int]  # positions (in frame order) of t-delta, t, t+delta (clamped)
    anns: tuple[int, int, int]  # annotation index of the same track in each frame; -1 = none
    track_id: int
    image_id: int


def frame_order(video: dict) -> list[int]:
    """Indices of ``video["images"]`` sorted by ``frame_id`` (falling back to ``id``)."""
    imgs = video["images"]
    return sorted(range(len(imgs)), key=lambda i: (imgs[i].get("frame_id", imgs[i]["id"]), imgs[i]["id"]))


def build_samples(videos: list[dict], delta: int) -> list[Sample]:
    """Enumerate the top-down samples of a split.

    A sample is an annotation with at least one labelled joint on an image with ``is_labeled``
    true. Its neighbours are the frames ``t - delta`` and ``t + delta`` in frame order, clamped into
    the video; the neighbour annotation is the one with the same ``track_id`` on that frame, if the
    frame is labelled and the track present there.

    Returns:
        The samples, in video / frame / annotation order.
    """
    out: list[Sample] = []
    for v, video in enumerate(videos):
        order = frame_order(video)
        pos_of_image = {video["images"][i]["id"]: p for p, i in enumerate(order)}
        by_frame: dict[int, dict[int, int]] = {}  # frame position -> track_id -> annotation index
        for a, ann in enumerate(video["annotations"]):
            by_frame.setdefault(pos_of_image[ann["image_id"]], {})[ann["track_id"]] = a
        n = len(order)
        for p, i in enumerate(order):
            img = video["images"][i]
            if not img.get("is_labeled", True):
                continue
            for track, a in sorted(by_frame.get(p, {}).items()):
                if keypoint_array(video["annotations"][a])[:, 2].sum() == 0:
                    continue
                if person_box(video["annotations"][a]) is None:
                    continue
                pos = (max(p - delta, 0), p, min(p + delta, n - 1))
                anns = []
                for q in pos:
                    qimg = video["images"][order[q]]
                    anns.append(by_frame.get(q, {}).get(track, -1) if qimg.get("is_labeled", True) else -1)
                out.append(Sample(v, pos, tuple(anns), track, img["id"]))
    return out


__all__ = [
    "Sample", "build_samples", "frame_order", "keypoint_array", "load_split", "load_video",
    "person_box", "split_dirs",
]
