"""Reading PoseTrack annotation folders for training: split folders, validated videos, and the
top-down samples.

Layout (see docs/architecture.md): ``ROOT/annotations/<split>/<video>.json`` (or
``ROOT/posetrack_data/annotations/...``), image ``file_name`` relative to the folder that holds
``annotations/``. Each file is one video in the PoseTrack18 layout or the PoseTrack 2017
(``annolist``) one, converted on load (`tipsd.model.posetrack_layout`; the format and its checks:
`tipsd.model.posetrack18`, `tipsd.model.posetrack17`). A file without annotations (the release's
test split) is an unlabelled video: it loads, with no people. Every problem is a `DataError` naming
the file, the field and the value.

What holds by construction: one file is one video (checked: one ``vid_id``), so frames of
different videos are never neighbours and track ids are compared within one video only; a track
appears once per frame (checked); neighbours are found by ``frame_id`` (below).
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tipsd.model.errors import DataError
from tipsd.model.posetrack18 import NUM_KEYPOINTS, check_video, require_folder, video_files
from tipsd.model.posetrack_layout import read_video

# Part of the crop-cache key: bump when the reading of the same annotation bytes changes the samples
# (2: joints re-ordered by categories[0].keypoints, the 2017 layout, neighbours by frame_id).
LOADER_FORMAT = 2


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
    root = require_folder(root, "dataset")
    for base in (root, root / "posetrack_data"):
        ann = base / "annotations" / split
        if ann.is_dir():
            return ann, base
    raise DataError(f"{root}: no annotations/{split}/ folder (nor posetrack_data/annotations/{split}/)")


def load_video(path: str | Path) -> dict:
    """Load and validate one video file of either layout (`tipsd.model.posetrack18.check_video`, with
    everything the loader reads).

    Args:
        path: the ``.json`` file.

    Returns:
        The video as a PoseTrack18 dict (standard joint order) with extra keys ``"_file"`` (its path,
        for messages), ``"_layout"`` (``"2017"`` or ``"2018"``) and ``"_unlabelled"`` (the file has no
        annotations: a test split; ``annotations`` is then empty).
    """
    doc, layout = read_video(path, is_gt=True, dataset=True)
    unlabelled = isinstance(doc, dict) and "annotations" not in doc
    if unlabelled:
        doc = {**doc, "annotations": []}
    check_video(doc, str(path), dataset=True)
    doc.update(_file=str(path), _layout=layout, _unlabelled=unlabelled)
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
    frames: tuple[int, int, int]  # positions (in frame order) of t-delta, t, t+delta (`neighbours`)
    anns: tuple[int, int, int]  # annotation index of the same track in each frame; -1 = none
    track_id: int
    image_id: int


def frame_order(video: dict) -> list[int]:
    """Indices of ``video["images"]`` sorted by ``frame_id`` (falling back to ``id``)."""
    imgs = video["images"]
    return sorted(range(len(imgs)), key=lambda i: (imgs[i].get("frame_id", imgs[i]["id"]), imgs[i]["id"]))


def neighbours(numbers: list[int] | None, p: int, delta: int) -> tuple[int, int, int]:
    """Positions of the frames `delta` frames before and after position `p`.

    Args:
        numbers: the frame numbers (``frame_id``), ascending, one per position; None when the file
            gives none (positions are then frame numbers).
        p: the key frame's position; delta: the offset in frames.

    Returns:
        ``(before, p, after)``: the frame numbered ``numbers[p] ∓ delta`` where the file lists it,
        else the listed frame nearest to it on the way to the key frame (so a file that lists only
        every 4th frame never pairs frames 4·delta apart); clamped into the video.

    Example:
        >>> neighbours([10, 11, 12, 13], 0, 1), neighbours([0, 4, 8], 1, 1), neighbours(None, 2, 1)
        ((0, 0, 1), (1, 1, 1), (1, 2, 3))
    """
    if numbers is None:
        return max(p - delta, 0), p, p + delta  # the caller clamps `after`
    return bisect_left(numbers, numbers[p] - delta), p, bisect_right(numbers, numbers[p] + delta) - 1


def build_samples(videos: list[dict], delta: int) -> list[Sample]:
    """Enumerate the top-down samples of a split.

    A sample is an annotation with at least one labelled joint on an image with ``is_labeled``
    true. Its neighbours are the frames ``t - delta`` and ``t + delta`` (`neighbours`: by
    ``frame_id`` when every image has one, else by position in frame order), clamped into the video;
    the neighbour annotation is the one with the same ``track_id`` on that frame, if the frame is
    labelled and the track present there.

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
        imgs = video["images"]
        numbers = [int(imgs[i]["frame_id"]) for i in order] if all("frame_id" in im for im in imgs) else None
        for p, i in enumerate(order):
            img = video["images"][i]
            if not img.get("is_labeled", True):
                continue
            for track, a in sorted(by_frame.get(p, {}).items()):
                if keypoint_array(video["annotations"][a])[:, 2].sum() == 0:
                    continue
                if person_box(video["annotations"][a]) is None:
                    continue
                before, _, after = neighbours(numbers, p, delta)
                pos = (before, p, min(after, n - 1))
                anns = []
                for q in pos:
                    qimg = video["images"][order[q]]
                    anns.append(by_frame.get(q, {}).get(track, -1) if qimg.get("is_labeled", True) else -1)
                out.append(Sample(v, pos, tuple(anns), track, img["id"]))
    return out


__all__ = [
    "LOADER_FORMAT", "Sample", "build_samples", "frame_order", "keypoint_array", "load_split", "load_video",
    "neighbours", "person_box", "split_dirs",
]
