"""The PoseTrack 2017 JSON layout (``annolist``), converted to and from the PoseTrack18 dict form
(`tipsd.model.posetrack18`) so that the loader, the evaluation and the export handle one form only.
Pure Python, like `tipsd.model.posetrack18`.

A 2017 video file (also poseval's own examples) is ``{"annolist": [frame, ...]}``; per frame:

- ``image[0].name``: the frame file, relative to the folder that holds ``annotations/``;
- ``annorect[j]``: one person: ``annopoints[0].point[k]`` with ``id`` (the joint, below), ``x``,
  ``y``, ``is_visible``, and ``score`` in predictions; ``x1, y1, x2, y2`` the head box (ground
  truth); ``track_id``; ``score`` (the person, predictions);
- ``ignore_regions[r].point[k]``: ``x``, ``y`` of a polygon; ``is_labeled``, ``imgnum``.

Values come wrapped in one-element lists (``"x": [394]``), as poseval reads them (``["x"][0]``);
plain numbers are read too.

Joint ids, as poseval numbers them (py/eval_helpers.py ``Joint``; py/convert.py lists the same order
as ``POSETRACK18_LM_NAMES``, with ``head_bottom`` for the ``neck`` of eval_helpers):
0 right_ankle, 1 right_knee, 2 right_hip, 3 left_hip, 4 left_knee, 5 left_ankle, 6 right_wrist,
7 right_elbow, 8 right_shoulder, 9 left_shoulder, 10 left_elbow, 11 left_wrist, 12 head_bottom,
13 nose, 14 head_top. They map by name onto the PoseTrack18 slots, as poseval's converter maps them.

What poseval does with a 2017 file, and what the conversion keeps equal:

- A listed ground-truth point is a labelled joint whatever its ``is_visible`` (``getPointGTbyID``
  looks at ``id`` only): it becomes ``(x, y, 1)``. A predicted point becomes ``(x, y, 1)`` with its
  ``score`` in ``scores``, or poseval's MIN_SCORE (−9999) where it has none.
- The head size is 0.6 × |(x2, y2) − (x1, y1)|: ``bbox_head = [x1, y1, x2 − x1, y2 − y1]`` has the
  same diagonal.
- Frames are paired with the ground truth's by position (a 2017 file has no image ids): the image
  ``id`` is the frame's position in ``annolist``, and the evaluation pairs 2017 files by position.

Refused, with the file and field: frames from more than one folder (one file is one video), a point
id outside 0–14 (MPII's 16-joint numbering, for one, uses
other ids; poseval would silently read its ids 12–14 as head joints, or skip 15), the same joint twice
in one person, a non-number coordinate, a ground-truth person with joints but no head box (the
evaluation needs it; the training loader does not), a person without ``track_id`` for training.

A ground-truth file in which no frame has an ``annorect`` key is unlabelled (a test split): it
converts without an ``annotations`` key, like the PoseTrack18 test files.

``frame_id`` (which frames are neighbours, for training): ``imgnum`` when every frame has a distinct
one, else the number in the frame file's name (``00000042.jpg``) when every name has a distinct one,
else the position in ``annolist``.
"""
from __future__ import annotations

import math
import re
from typing import Any, Mapping

from tipsd.model.errors import DataError
from tipsd.model.posetrack18 import CATEGORIES, KEYPOINT_NAMES, MIN_SCORE, NUM_KEYPOINTS

# PoseTrack 2017 joint id -> name (poseval's ids; head_bottom is eval_helpers' "neck").
POSETRACK17_JOINTS: tuple[str, ...] = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    "head_bottom", "nose", "head_top",
)
# PoseTrack18 slot of each 2017 joint id, and back.
SLOT_OF_ID: tuple[int, ...] = tuple(KEYPOINT_NAMES.index(n) for n in POSETRACK17_JOINTS)
ID_OF_SLOT: dict[int, int] = {slot: i for i, slot in enumerate(SLOT_OF_ID)}
LAYOUT = "2017"


def is_annolist(doc: Any) -> bool:
    """True for a file in the 2017 layout (it has ``annolist``)."""
    return isinstance(doc, Mapping) and "annolist" in doc


def _one(value: Any, where: str) -> Any:
    """A 2017 value: ``[v]`` or ``v``."""
    if isinstance(value, list):
        if len(value) != 1:
            raise DataError(f"{where}: expected one value, got {value!r}")
        return value[0]
    return value


def _number(value: Any, where: str) -> float:
    v = _one(value, where)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise DataError(f"{where}: {v!r} is not a finite number")
    return v


def _int(value: Any, where: str) -> int:
    v = _one(value, where)
    if isinstance(v, bool) or not (isinstance(v, int) or (isinstance(v, float) and v.is_integer())):
        raise DataError(f"{where}: {v!r} is not an integer")
    return int(v)


def _list(entry: Mapping, key: str, where: str) -> list:
    """``entry[key]`` as a list; absent or null is an empty list."""
    value = entry.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise DataError(f"{where}.{key}: expected a list, got {type(value).__name__}")
    return value


def _object(value: Any, where: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise DataError(f"{where} must be an object")
    return value


def _points(rect: Mapping, where: str) -> list:
    """The ``point`` list of a person (``annopoints`` absent, null or empty: no joints)."""
    annopoints = _list(rect, "annopoints", where)
    if not annopoints:
        return []
    return _list(_object(annopoints[0], f"{where}.annopoints[0]"), "point", f"{where}.annopoints[0]")


def _person(rect: Any, where: str, image_id: int, is_gt: bool, dataset: bool) -> dict:
    """One ``annorect`` entry as a PoseTrack18 annotation."""
    rect = _object(rect, where)
    kp = [0.0] * (3 * NUM_KEYPOINTS)
    scores = [0.0] * NUM_KEYPOINTS
    scored, seen = False, {}
    for k, point in enumerate(_points(rect, where)):
        pw = f"{where}.annopoints[0].point[{k}]"
        point = _object(point, pw)
        joint = _int(point.get("id"), f"{pw}.id")
        if not 0 <= joint < len(POSETRACK17_JOINTS):
            raise DataError(f"{pw}.id: {joint} is not a PoseTrack 2017 joint id (0-14: "
                            f"{', '.join(f'{i} {n}' for i, n in enumerate(POSETRACK17_JOINTS))})")
        if joint in seen:
            raise DataError(f"{pw}.id: joint {joint} ({POSETRACK17_JOINTS[joint]}) is also point[{seen[joint]}]")
        seen[joint] = k
        slot = SLOT_OF_ID[joint]
        kp[3 * slot:3 * slot + 3] = [_number(point.get("x"), f"{pw}.x"), _number(point.get("y"), f"{pw}.y"), 1]
        if point.get("score") is not None:
            scores[slot], scored = _number(point["score"], f"{pw}.score"), True
        else:
            scores[slot] = MIN_SCORE
    ann: dict = {"image_id": image_id, "keypoints": kp}
    if not is_gt and scored:
        ann["scores"] = scores
    if rect.get("score") is not None:
        ann["score"] = _number(rect["score"], f"{where}.score")
    if rect.get("track_id") is not None:
        ann["track_id"] = _int(rect["track_id"], f"{where}.track_id")
    elif dataset:
        raise DataError(f"{where}: field 'track_id' is missing")
    corners = [rect.get(c) for c in ("x1", "y1", "x2", "y2")]
    if not is_gt:  # poseval reads no box of a predicted person
        return ann
    if all(c is not None for c in corners):
        x1, y1, x2, y2 = (_number(c, f"{where}.{n}") for c, n in zip(corners, ("x1", "y1", "x2", "y2")))
        ann["bbox_head"] = [x1, y1, x2 - x1, y2 - y1]
    elif not dataset and seen:
        raise DataError(f"{where}: x1, y1, x2, y2 (the head box) missing; the PCKh head size needs it for "
                        "every person with labelled joints")
    return ann


def _regions(entry: Mapping, where: str) -> tuple[list, list]:
    """``ignore_regions`` as PoseTrack18's ``ignore_regions_x`` / ``ignore_regions_y``."""
    xs, ys = [], []
    for r, region in enumerate(_list(entry, "ignore_regions", where)):
        rw = f"{where}.ignore_regions[{r}]"
        points = _list(_object(region, rw), "point", rw)
        points = [_object(p, f"{rw}.point[{k}]") for k, p in enumerate(points)]
        xs.append([_number(p.get("x"), f"{rw}.point[{k}].x") for k, p in enumerate(points)])
        ys.append([_number(p.get("y"), f"{rw}.point[{k}].y") for k, p in enumerate(points)])
    return xs, ys


def _frame_numbers(frames: list[Mapping], names: list[str]) -> list[int]:
    """Each frame's number (see the module docstring: imgnum, else the name's, else the position)."""
    def distinct(values: list) -> bool:
        return None not in values and len(set(values)) == len(values)

    imgnums = []
    for f in frames:
        try:
            imgnums.append(_int(f["imgnum"], "imgnum") if f.get("imgnum") is not None else None)
        except DataError:
            imgnums.append(None)
    if distinct(imgnums):
        return imgnums
    from_names = []
    for name in names:
        m = re.search(r"(\d+)\D*$", name.rsplit("/", 1)[-1])
        from_names.append(int(m.group(1)) if m else None)
    return from_names if distinct(from_names) else list(range(len(frames)))


def from_annolist(doc: Mapping, source: str, *, is_gt: bool = True, dataset: bool = False) -> dict:
    """Convert a PoseTrack 2017 video to the PoseTrack18 dict form (see the module docstring).

    Args:
        doc: the decoded JSON, with ``annolist``.
        source: names the file in messages.
        is_gt: ground truth (head boxes, no scores) or predictions.
        dataset: read for the training loader (``track_id`` required; head boxes not).

    Returns:
        ``{"images", "annotations", "categories"}`` in the standard slots; image ``id`` = position,
        ``frame_id`` as in the module docstring; no ``annotations`` key for an unlabelled file.

    Example:
        >>> v = from_annolist({"annolist": [{"image": [{"name": "a/00000007.jpg"}], "annorect": [
        ...     {"x1": [0], "y1": [0], "x2": [6], "y2": [8], "annopoints": [{"point": [
        ...         {"id": [13], "x": [5.0], "y": [4.0], "is_visible": [1]}]}]}]}]}, "v.json")
        >>> v["images"][0]["frame_id"], v["annotations"][0]["keypoints"][:3], v["annotations"][0]["bbox_head"]
        (7, [5.0, 4.0, 1], [0, 0, 6, 8])
    """
    frames = doc["annolist"]
    if not isinstance(frames, list):
        raise DataError(f"{source}: annolist: expected a list, got {type(frames).__name__}")
    images, anns, names = [], [], []
    for i, frame in enumerate(frames):
        where = f"{source}: annolist[{i}]"
        frame = _object(frame, where)
        image = _list(frame, "image", where)
        name = _object(image[0], f"{where}.image[0]").get("name") if image else None
        if not isinstance(name, str) or not name:
            raise DataError(f"{where}.image[0].name: {name!r} is not a file name")
        if names and name.rpartition("/")[0] != names[0].rpartition("/")[0]:
            raise DataError(f"{where}.image[0].name: {name!r} is not in the folder of annolist[0]'s "
                            f"({names[0]!r}); one file holds one video")
        names.append(name)
        img: dict = {"id": i, "file_name": name}
        if frame.get("is_labeled") is not None:
            flag = _one(frame["is_labeled"], f"{where}.is_labeled")
            if not isinstance(flag, bool) and flag not in (0, 1):
                raise DataError(f"{where}.is_labeled: {flag!r} is not 0 or 1")
            img["is_labeled"] = bool(flag)
        xs, ys = _regions(frame, where)
        if xs:
            img["ignore_regions_x"], img["ignore_regions_y"] = xs, ys
        images.append(img)
        for j, rect in enumerate(_list(frame, "annorect", where)):
            anns.append(_person(rect, f"{where}.annorect[{j}]", i, is_gt, dataset))
    for img, number in zip(images, _frame_numbers(frames, names)):
        img["frame_id"] = number
    out = {"images": images, "categories": CATEGORIES}
    if not is_gt or any(isinstance(f, Mapping) and "annorect" in f for f in frames):
        out["annotations"] = anns
    return out


def to_annolist(video: Mapping, source: str = "video") -> dict:
    """Write a PoseTrack18 video dict (standard slots) in the 2017 layout, frames in ``images`` order.

    A joint is written when its triplet is not exactly ``(0, 0, 0)`` (poseval's rule for "there");
    ``is_visible`` is 1 when the third value is positive; ``score`` from ``scores`` when that list is
    not empty. ``bbox_head`` becomes ``x1, y1, x2, y2``. A video without ``annotations`` (unlabelled)
    is written without ``annorect``. The 2017 layout pairs frames by position, so
    the video must list its frames (copy the ground truth's ``images`` in).

    Example:
        >>> out = to_annolist({"images": [{"id": 3, "file_name": "a/000000.jpg"}], "annotations": [
        ...     {"image_id": 3, "keypoints": [5, 4, 0.8] + [0] * 48, "scores": [0.8] + [0] * 16}]})
        >>> out["annolist"][0]["annorect"][0]["annopoints"][0]["point"]
        [{'id': [13], 'x': [5], 'y': [4], 'is_visible': [1], 'score': [0.8]}]
    """
    images = video.get("images") or []
    if not images:
        raise DataError(f"{source}: the PoseTrack 2017 layout pairs frames by position: the video must list "
                        "its frames in 'images' (copy the ground truth's in)")
    rects: dict[Any, list] = {img.get("id"): [] for img in images}
    for i, ann in enumerate(video.get("annotations") or []):
        if ann.get("image_id") not in rects:
            raise DataError(f"{source}: annotations[{i}].image_id: {ann.get('image_id')!r} names no image of "
                            "this video")
        kp, scores = list(ann["keypoints"]), list(ann.get("scores") or [])
        points = []
        for slot in sorted(ID_OF_SLOT, key=ID_OF_SLOT.get):
            x, y, v = kp[3 * slot:3 * slot + 3]
            if x == 0 and y == 0 and v == 0:
                continue
            point = {"id": [ID_OF_SLOT[slot]], "x": [x], "y": [y], "is_visible": [int(v > 0)]}
            if scores:
                point["score"] = [scores[slot]]
            points.append(point)
        rect: dict = {"annopoints": [{"point": points}]}
        if ann.get("bbox_head") is not None:
            x, y, w, h = ann["bbox_head"]
            rect.update(x1=[x], y1=[y], x2=[x + w], y2=[y + h])
        for key in ("track_id", "score"):
            if ann.get(key) is not None:
                rect[key] = [ann[key]]
        rects[ann["image_id"]].append(rect)
    annolist = []
    for img in images:
        frame: dict = {"image": [{"name": img.get("file_name", "")}]}
        if "annotations" in video:  # none: an unlabelled video (a test split) stays unlabelled
            frame["annorect"] = rects[img.get("id")]
        if "is_labeled" in img:
            frame["is_labeled"] = [int(bool(img["is_labeled"]))]
        regions = zip(img.get("ignore_regions_x") or [], img.get("ignore_regions_y") or [])
        frame["ignore_regions"] = [{"point": [{"x": [x], "y": [y]} for x, y in zip(rx, ry)]} for rx, ry in regions]
        annolist.append(frame)
    return {"annolist": annolist}


__all__ = ["ID_OF_SLOT", "LAYOUT", "POSETRACK17_JOINTS", "SLOT_OF_ID", "from_annolist", "is_annolist", "to_annolist"]
