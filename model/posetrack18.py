"""The PoseTrack18 format in one place: keypoint layout, poseval's joint groups and skeleton, and the
reading and validation of one video file. Pure Python (no numpy, no torch), so the data loader, the
evaluation, the record schema and the analysis can all import it.

A PoseTrack18 video file is ``{"images": [...], "annotations": [...], "categories": [...]}``.
Each annotation is one person on one image: ``image_id``, ``keypoints`` (17 × (x, y, v) flattened),
``bbox_head`` ([x, y, w, h], ground truth only), ``bbox``, ``track_id``; predictions add ``scores``
(one per keypoint) and ``score`` (the person). Images carry ``id`` and ``file_name``, and may carry
ignore regions as ``ignore_regions_x`` / ``ignore_regions_y`` (one list of polygon vertices per
region).

Joint order: a file may declare the order of its keypoint triplets in ``categories[0].keypoints``.
poseval (py/convert.py, ``Video.from_new``) maps every triplet by that name and asserts that all 15
PoseTrack joint names (`POSETRACK_JOINTS`) are there; `in_standard_order` does the same, so a
re-ordered file, or one declaring only the 15 joints, is read into the 17 slots below; a file that
lacks one of the 15 (COCO's order, with left_eye/right_eye instead of head_bottom/head_top) is refused
as poseval refuses it. Names that are not PoseTrack joints are dropped, as poseval drops them.
Deliberate deviations: a file without ``categories`` is read in the standard order (poseval needs
the block; tipsd's own in-memory videos omit it), and a name listed twice is refused (poseval would
keep the first).

Two readers use `check_video`: the evaluation (``dataset=False``: what poseval needs, predictions
may omit ``images``) and the training data loader (``dataset=True``: also every field the loader
reads, with integer ids and finite coordinates). Both refuse what would silently mislead them: an
image id listed twice, images of more than one video (``vid_id``) in one file (poseval would read
only the first video), a person whose ``image_id`` is not among the file's images, an
``is_labeled`` that is not a boolean, and a ``track_id`` used twice on one frame (in the data and in
predictions; poseval refuses the latter). Every problem is a `DataError` naming the source (a file
path or ``video 'name'``), the field and the value.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

from tipsd.model.errors import DataError

# PoseTrack18 keypoint slots (17, COCO order with head_bottom / head_top in the eye slots).
KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "head_bottom", "head_top", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
NUM_KEYPOINTS = len(KEYPOINT_NAMES)
# Index pairs that swap under a horizontal flip (the person's left becomes their right).
FLIP_PAIRS: tuple[tuple[int, int], ...] = ((3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))
# Slots that PoseTrack never labels (the ears).
UNLABELLED_SLOTS: tuple[int, ...] = (3, 4)
# The 15 slots poseval evaluates: every slot except the two ears.
EVAL_SLOTS = tuple(i for i in range(NUM_KEYPOINTS) if i not in UNLABELLED_SLOTS)
EVAL_JOINT_NAMES = tuple(KEYPOINT_NAMES[i] for i in EVAL_SLOTS)
# poseval's table columns and the joints averaged into each (eval_helpers.getCum).
GROUPS: dict[str, tuple[str, ...]] = {
    "Head": ("head_top", "head_bottom", "nose"),
    "Shoulder": ("right_shoulder", "left_shoulder"),
    "Elbow": ("right_elbow", "left_elbow"),
    "Wrist": ("right_wrist", "left_wrist"),
    "Hip": ("right_hip", "left_hip"),
    "Knee": ("right_knee", "left_knee"),
    "Ankle": ("right_ankle", "left_ankle"),
}
# The PoseTrack mAP table: one column per group, then Total (mean over the 15 evaluated joints).
COLUMNS: tuple[str, ...] = (*GROUPS, "Total")
# poseval's PoseTrack18 skeleton (1-based keypoint indices).
SKELETON = [
    [16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9],
    [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7],
]
# The 15 joints PoseTrack labels and poseval evaluates; every file must name them all (in any order).
POSETRACK_JOINTS = EVAL_JOINT_NAMES
# poseval's score for a predicted joint that comes without one (eval_helpers.MIN_SCORE).
MIN_SCORE = -9999.0
# The one category of a PoseTrack18 file (poseval requires it, listing the 17 keypoint names).
CATEGORIES = [dict(id=1, name="person", supercategory="person", keypoints=list(KEYPOINT_NAMES), skeleton=SKELETON)]


def read_video_file(path: str | os.PathLike) -> Any:
    """Read and decode one JSON file; an unreadable or corrupt file is a one-line `DataError`.

    Returns:
        The decoded JSON (check it with `check_video`).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text (byte {err.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON ({err.msg} at line {err.lineno} column {err.colno})") from None


# What each kind of folder a command takes holds, for the message when it is given a file instead.
FOLDER_KINDS = {
    "dataset": ("dataset folder", "annotations/<split>/<video>.json and the images they name"),
    "videos": ("folder of video files", "one <video>.json per video, e.g. annotations/val"),
}


def folder_problem(path: str | os.PathLike, kind: str) -> str | None:
    """Why `path` cannot be used as a folder of `kind`, or None when it is a folder.

    Args:
        path: what the user gave (``~`` is expanded).
        kind: a key of `FOLDER_KINDS` ("dataset" or "videos"): what the folder should hold.

    Returns:
        None, ``"does not exist"``, or ``"is a file, not a dataset folder (a dataset folder holds ...)"``.
    """
    root = Path(path).expanduser()
    if root.is_dir():
        return None
    noun, holds = FOLDER_KINDS[kind]
    return f"is a file, not a {noun} (a {noun} holds {holds})" if root.exists() else "does not exist"


def require_folder(path: str | os.PathLike, kind: str, hint: str = "") -> Path:
    """`path` as a `Path` (``~`` expanded) if it is a folder; else a one-line `DataError`.

    Args:
        path: what the user gave.
        kind: a key of `FOLDER_KINDS`, as for `folder_problem`.
        hint: added to the message when nothing is at `path` (e.g. " (or use synth:<preset>)").

    Raises:
        DataError: ``"dataset folder X does not exist"``, or, when `path` is a file,
            ``"X is a file, not a dataset folder (a dataset folder holds ...)"``.

    Example:
        >>> require_folder("studies/smoke.toml", "dataset")  # doctest: +SKIP
        DataError: studies/smoke.toml is a file, not a dataset folder (a dataset folder holds ...)
    """
    why = folder_problem(path, kind)
    if why is None:
        return Path(path).expanduser()
    if why == "does not exist":
        raise DataError(f"{'dataset folder' if kind == 'dataset' else 'folder'} {path} does not exist{hint}")
    raise DataError(f"{path} {why}")


def video_files(folder: str | os.PathLike) -> dict[str, Path]:
    """``{video_name: path}`` of the ``*.json`` files in a folder (sorted by name); a missing folder,
    a file, or a folder without JSON files is a `DataError` (`require_folder`)."""
    root = require_folder(folder, "videos")
    files = {p.stem: p for p in sorted(root.glob("*.json")) if p.is_file()}
    if not files:
        raise DataError(f"{folder}: no .json video files in this folder")
    return files


def integer(value: Any, where: str, *, strict: bool = True) -> int:
    """`value` as an int; `strict` refuses integer-valued floats (``3.0``) too."""
    ok = isinstance(value, int) or (not strict and isinstance(value, float) and value.is_integer())
    if not ok or isinstance(value, bool):
        raise DataError(f"{where}: {value!r} is not an integer")
    return int(value)


def numbers(value: Any, where: str, length: int | None, *, finite: bool = False) -> list:
    """Check that `value` is a list of `length` numbers (finite ones if asked); returns it."""
    if not isinstance(value, list):
        raise DataError(f"{where}: expected a list of numbers, got {type(value).__name__}")
    if length is not None and len(value) != length:
        raise DataError(f"{where}: expected {length} numbers, got {len(value)}")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise DataError(f"{where}: {v!r} is not a number")
        if finite and not math.isfinite(v):
            raise DataError(f"{where}: {v!r} is not a finite number")
    return value


def _box(value: Any, where: str) -> None:
    ok = isinstance(value, list) and len(value) == 4 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    if not ok:
        raise DataError(f"{where}: {value!r} is not [x, y, w, h]")


def declared_slots(doc: Mapping, source: str) -> list[int | None] | None:
    """The slot (index into `KEYPOINT_NAMES`) of each keypoint a file's annotations list, read from
    ``categories[0].keypoints`` as poseval reads it; None for a name that is no PoseTrack joint.

    Returns:
        None when there is nothing to re-order: no ``categories`` block, or the standard order.

    Example:
        >>> declared_slots({"categories": [{"keypoints": list(POSETRACK_JOINTS[::-1])}]}, "v")[:3]
        [16, 15, 14]
    """
    cats = doc.get("categories")
    if cats is None or cats == []:
        return None
    if not isinstance(cats, list) or len(cats) != 1 or not isinstance(cats[0], Mapping):
        got = f"{len(cats)} entries" if isinstance(cats, list) else type(cats).__name__
        raise DataError(f"{source}: categories: expected one 'person' category, got {got}")
    names = cats[0].get("keypoints")
    where = f"{source}: categories[0].keypoints"
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DataError(f"{where}: {names!r} is not a list of joint names")
    if names == list(KEYPOINT_NAMES):
        return None
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DataError(f"{where}: {', '.join(map(repr, twice))} listed twice")
    missing = [n for n in POSETRACK_JOINTS if n not in names]
    if missing:
        coco = " (this is COCO's order: its eyes are not PoseTrack's head_bottom/head_top)" \
            if {"left_eye", "right_eye"} <= set(names) else ""
        raise DataError(f"{where}: no {', '.join(map(repr, missing))}{coco}; a PoseTrack file names all 15 "
                        f"joints ({', '.join(POSETRACK_JOINTS)}), as poseval requires")
    return [KEYPOINT_NAMES.index(n) if n in KEYPOINT_NAMES else None for n in names]


def _to_slots(values: Any, slots: list[int | None], width: int, where: str) -> list:
    """`values` (``width`` numbers per declared joint) re-ordered into the 17 standard slots."""
    n = len(slots)
    if not isinstance(values, list) or len(values) != width * n:
        got = f"{len(values)}" if isinstance(values, list) else type(values).__name__
        raise DataError(f"{where}: expected {width * n} numbers ({n} joints named in categories[0].keypoints),"
                        f" got {got}")
    out = [0] * (width * NUM_KEYPOINTS)
    for i, slot in enumerate(slots):
        if slot is not None:
            out[width * slot:width * slot + width] = values[width * i:width * i + width]
    return out


def in_standard_order(doc: Any, source: str) -> Any:
    """`doc` with every person's ``keypoints`` and ``scores`` in the 17 standard slots, following the
    file's ``categories[0].keypoints`` (see the module docstring); `doc` itself when nothing moves.
    Joints the file does not name become ``(0, 0, 0)`` (not there)."""
    if not isinstance(doc, Mapping):
        return doc  # check_video says what is wrong
    slots = declared_slots(doc, source)
    anns = doc.get("annotations")
    if slots is None or not isinstance(anns, list):
        return doc
    out = []
    for i, ann in enumerate(anns):
        if isinstance(ann, Mapping) and "keypoints" in ann:
            ann = dict(ann, keypoints=_to_slots(ann["keypoints"], slots, 3, f"{source}: annotations[{i}].keypoints"))
            if ann.get("scores"):
                ann["scores"] = _to_slots(ann["scores"], slots, 1, f"{source}: annotations[{i}].scores")
        out.append(ann)
    return {**doc, "annotations": out, "categories": CATEGORIES}


def _check_image(img: Any, where: str, dataset: bool) -> int:
    """Check one entry of ``images``; returns its id."""
    if not isinstance(img, Mapping):
        raise DataError(f"{where} must be an object")
    for field in ("id", "file_name") if dataset else ("id",):
        if field not in img:
            raise DataError(f"{where}: field {field!r} is missing")
    image_id = integer(img["id"], f"{where}.id", strict=dataset)
    flag = img.get("is_labeled", True)
    if not isinstance(flag, bool) and flag not in (0, 1):
        raise DataError(f"{where}.is_labeled: {flag!r} is not true or false")
    if dataset:
        if not isinstance(img["file_name"], str) or not img["file_name"]:
            raise DataError(f"{where}.file_name: {img['file_name']!r} is not a file name")
        if "frame_id" in img:
            integer(img["frame_id"], f"{where}.frame_id")
    xs, ys = img.get("ignore_regions_x"), img.get("ignore_regions_y")
    if xs is None and ys is None:
        return image_id
    if not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys):
        raise DataError(f"{where}.ignore_regions_x/_y: expected two lists of the same length")
    for r, (rx, ry) in enumerate(zip(xs, ys)):
        numbers(rx, f"{where}.ignore_regions_x[{r}]", None)
        numbers(ry, f"{where}.ignore_regions_y[{r}]", len(rx))
    return image_id


def _check_annotation(ann: Any, where: str, dataset: bool, image_ids: set[int] | None) -> None:
    """Check one entry of ``annotations`` (see `check_video`); `image_ids` None: the file lists no
    images (predictions paired by ``image_id`` alone)."""
    if not isinstance(ann, Mapping):
        raise DataError(f"{where} must be an object")
    for field in ("image_id", "track_id", "keypoints") if dataset else ("image_id", "keypoints"):
        if field not in ann:
            raise DataError(f"{where}: field {field!r} is missing")
    image_id = ann["image_id"]
    if dataset:  # the loader pairs people with frames by the exact id
        ok = isinstance(image_id, int) and not isinstance(image_id, bool) and image_id in (image_ids or ())
    else:
        ok = image_ids is None or integer(image_id, f"{where}.image_id", strict=False) in image_ids
    if not ok:
        raise DataError(f"{where}.image_id: {image_id!r} names no image of this video")
    if dataset or ann.get("track_id") is not None:
        integer(ann["track_id"], f"{where}.track_id", strict=dataset)
    numbers(ann["keypoints"], f"{where}.keypoints", 3 * NUM_KEYPOINTS, finite=dataset)
    if ann.get("scores"):  # poseval reads per-joint scores only from a non-empty list (convert.py)
        numbers(ann["scores"], f"{where}.scores", NUM_KEYPOINTS)
    if ann.get("score") is not None:
        numbers([ann["score"]], f"{where}.score", 1)
    for field in ("bbox", "bbox_head"):
        if ann.get(field) is not None:
            _box(ann[field], f"{where}.{field}")


def _check_one_video(images: list, source: str, dataset: bool) -> None:
    """Unique image ids (and, for the loader, frame ids); one ``vid_id`` for the whole file."""
    first: dict[tuple[str, int], int] = {}
    for i, img in enumerate(images):
        for field in ("id", "frame_id") if dataset else ("id",):
            if field in img:
                j = first.setdefault((field, int(img[field])), i)
                if j != i:
                    raise DataError(f"{source}: images[{i}].{field}: {img[field]!r} is also images[{j}].{field}; "
                                    "each frame is listed once")
        vid = img.get("vid_id")
        if vid is not None and str(vid) != str(images[0].get("vid_id", vid)):
            raise DataError(f"{source}: images[{i}].vid_id: {vid!r} is not images[0].vid_id "
                            f"{images[0].get('vid_id')!r}; one file holds one video (poseval reads only the first)")


def _check_tracks(anns: list, source: str) -> None:
    """A track id appears at most once per frame (the loader follows people by it)."""
    seen: dict[tuple[int, int], int] = {}
    for i, ann in enumerate(anns):
        if ann.get("track_id") is None:
            continue
        j = seen.setdefault((int(ann["image_id"]), int(ann["track_id"])), i)
        if j != i:
            raise DataError(f"{source}: annotations[{i}].track_id: {ann['track_id']!r} is also annotations[{j}]'s "
                            f"on image {ann['image_id']!r}; a track appears once per frame")


def check_video(doc: Any, source: str, *, is_gt: bool = True, dataset: bool = False) -> None:
    """Validate one decoded PoseTrack18 video; raise `DataError` naming `source`, the field, the value.

    Args:
        doc: the decoded JSON, in the standard joint order (`in_standard_order`).
        source: names the video in messages (a file path, or ``video 'name' (ground truth)``).
        is_gt: ground truth needs ``images``; predictions may omit it (or list none), and are then
            paired with the ground truth by ``image_id`` alone.
        dataset: also require what the training loader reads: ``file_name`` per image, integer ids
            (``3.0`` is refused), unique ``frame_id``s, ``track_id`` per person, finite keypoints.

    Example:
        >>> check_video({"images": [{"id": 1}], "annotations": [{"image_id": 1, "keypoints": []}]}, "v")
        Traceback (most recent call last):
        ...
        tipsd.model.errors.DataError: v: annotations[0].keypoints: expected 51 numbers, got 0
    """
    if not isinstance(doc, Mapping):
        raise DataError(f"{source}: expected a JSON object with 'images' and 'annotations', "
                        f"got {type(doc).__name__}")
    for field in ("images", "annotations"):
        if field == "images" and not is_gt and doc.get("images") is None:
            continue
        if field not in doc:
            raise DataError(f"{source}: field {field!r} is missing")
        if not isinstance(doc[field], list):
            raise DataError(f"{source}: field {field!r} must be a list, got {type(doc[field]).__name__}")
    images = doc.get("images") or []
    image_ids = {_check_image(img, f"{source}: images[{i}]", dataset) for i, img in enumerate(images)}
    _check_one_video(images, source, dataset)
    listed = image_ids if (images or is_gt) else None
    for i, ann in enumerate(doc["annotations"]):
        _check_annotation(ann, f"{source}: annotations[{i}]", dataset, listed)
    if dataset or not is_gt:
        _check_tracks(doc["annotations"], source)


__all__ = [
    "CATEGORIES", "COLUMNS", "EVAL_JOINT_NAMES", "EVAL_SLOTS", "FLIP_PAIRS", "GROUPS", "KEYPOINT_NAMES",
    "MIN_SCORE", "NUM_KEYPOINTS", "POSETRACK_JOINTS", "SKELETON", "UNLABELLED_SLOTS", "check_video",
    "declared_slots", "in_standard_order", "integer", "numbers", "read_video_file", "folder_problem", "require_folder",
    "video_files",
]
