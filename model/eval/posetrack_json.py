"""PoseTrack18 video dicts → per-frame numpy arrays (`People`, `Frame`) for the evaluators.

The format, its keypoint layout and its validation live in `tipsd.model.posetrack18`; this module
turns a checked video into arrays and holds the ignore-region geometry.

"Labelled" follows poseval's PoseTrack18 → 17 converter (`convert.py`, ``Person.to_old``): a keypoint
triplet is dropped only when it is exactly ``(0, 0, 0)``; any other triplet is a labelled GT joint
(or a present predicted joint). Ears (slots 3 and 4) are never evaluated.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from tipsd.model.errors import DataError
from tipsd.model.posetrack18 import NUM_KEYPOINTS, UNLABELLED_SLOTS, check_video

# poseval's score for a predicted joint that comes without one (eval_helpers.MIN_SCORE).
MIN_SCORE = -9999.0


@dataclass
class People:
    """The people of one image as arrays (P people).

    Attributes:
        kpts: float64 (P, 17, 3) — x, y, v (GT) or x, y, third value (predictions).
        present: bool (P, 17) — labelled (GT) / predicted (prediction) joints; ears always False.
        joint_score: float64 (P, 17) — per-joint score (``scores``), MIN_SCORE when absent.
        person_score: float64 (P,) — ``score``, NaN when absent.
        head_size: float64 (P,) — 0.6 × head-box diagonal, NaN without ``bbox_head``.
        bbox: float64 (P, 4) — x, y, w, h, NaN without ``bbox``.
        track_id: int64 (P,).
    """

    kpts: np.ndarray
    present: np.ndarray
    joint_score: np.ndarray
    person_score: np.ndarray
    head_size: np.ndarray
    bbox: np.ndarray
    track_id: np.ndarray

    def __len__(self) -> int:
        return self.kpts.shape[0]

    def subset(self, keep: np.ndarray) -> "People":
        """The people selected by a bool (P,) mask or an index array."""
        return People(*(getattr(self, f)[keep] for f in self.__dataclass_fields__))


def empty_people() -> People:
    """A `People` with no one in it."""
    k = NUM_KEYPOINTS
    return People(
        np.zeros((0, k, 3)), np.zeros((0, k), bool), np.zeros((0, k)), np.zeros(0), np.zeros(0),
        np.zeros((0, 4)), np.zeros(0, np.int64),
    )


@dataclass
class Frame:
    """One image of a video: its people and its ignore regions (list of (V, 2) polygons)."""

    image_id: int
    people: People
    ignore_regions: list[np.ndarray] = field(default_factory=list)


def _parse_people(anns: list[tuple[int, dict]], source: str, is_gt: bool) -> People:
    """Arrays for the (checked) annotations ``[(index in file, annotation), ...]`` of one image."""
    if not anns:
        return empty_people()
    p, k = len(anns), NUM_KEYPOINTS
    kpts = np.array([ann["keypoints"] for _, ann in anns], dtype=float).reshape(p, k, 3)
    joint_score = np.full((p, k), MIN_SCORE)
    person_score = np.full(p, np.nan)
    head_size = np.full(p, np.nan)
    bbox = np.full((p, 4), np.nan)
    track_id = np.zeros(p, np.int64)
    for row, (_, ann) in enumerate(anns):
        if ann.get("scores"):  # poseval reads per-joint scores only from a non-empty list (convert.py)
            joint_score[row] = ann["scores"]
        if ann.get("score") is not None:
            person_score[row] = ann["score"]
        if ann.get("bbox_head") is not None:
            hx, hy, hw, hh = ann["bbox_head"]
            head_size[row] = 0.6 * math.hypot(hw, hh)
        if ann.get("bbox") is not None:
            bbox[row] = ann["bbox"]
        if ann.get("track_id") is not None:
            track_id[row] = int(ann["track_id"])
    # A triplet is "not there" only when it is exactly (0, 0, 0) (poseval's converter).
    present = np.any(kpts != 0, axis=2)  # (P, 17)
    present[:, list(UNLABELLED_SLOTS)] = False  # ears: poseval's joint table has no slot for them
    if is_gt:
        missing = present.any(axis=1) & np.isnan(head_size)
        if missing.any():
            i = anns[int(np.argmax(missing))][0]
            raise DataError(
                f"{source}: annotations[{i}].bbox_head: missing; the PCKh head size needs it "
                "for every person with labelled joints"
            )
    return People(kpts, present, joint_score, person_score, head_size, bbox, track_id)


def _ignore_regions(image: Mapping) -> list[np.ndarray]:
    """The (checked) ignore regions of one image as (V, 2) polygons."""
    xs, ys = image.get("ignore_regions_x") or [], image.get("ignore_regions_y") or []
    return [np.stack([np.asarray(rx, float), np.asarray(ry, float)], axis=1).reshape(-1, 2)
            for rx, ry in zip(xs, ys)]


def parse_video(data: Any, source: str, *, is_gt: bool) -> dict[int, Frame]:
    """Validate one PoseTrack18 video dict (`tipsd.model.posetrack18.check_video`) and group its
    people by image.

    Args:
        data: the decoded JSON (``{"images": [...], "annotations": [...]}``). Predictions may omit
            ``images``; ground truth needs it (frame order and ignore regions come from it).
        source: names the video in error messages (a file path or ``video 'name'``).
        is_gt: ground truth (needs ``bbox_head`` on people with labelled joints) or predictions.

    Returns:
        ``{image_id: Frame}`` in the order of ``images`` (then of first appearance in
        ``annotations`` for image ids not listed there).

    Example:
        >>> frames = parse_video({"images": [{"id": 1}], "annotations": []}, "v", is_gt=True)
        >>> list(frames), len(frames[1].people)
        ([1], 0)
    """
    check_video(data, source, is_gt=is_gt)
    regions: dict[int, list[np.ndarray]] = {}
    order: list[int] = []
    for image in data.get("images") or []:
        image_id = int(image["id"])
        if image_id not in regions:
            order.append(image_id)
        regions[image_id] = _ignore_regions(image)
    by_image: dict[int, list[tuple[int, dict]]] = {}
    for i, ann in enumerate(data["annotations"]):
        image_id = int(ann["image_id"])
        if image_id not in regions and image_id not in by_image:
            order.append(image_id)
        by_image.setdefault(image_id, []).append((i, ann))
    return {
        image_id: Frame(image_id, _parse_people(by_image.get(image_id, []), source, is_gt),
                        regions.get(image_id, []))
        for image_id in order
    }


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Which points lie strictly inside a polygon (boundary excluded, as shapely's ``contains``).

    Even-odd ray casting; a polygon with fewer than 3 vertices contains nothing.

    Args:
        points: (N, 2) x, y.
        polygon: (V, 2) vertices, not closed (the last edge joins the last vertex to the first).

    Returns:
        bool (N,).

    Example:
        >>> square = np.array([[0, 0], [2, 0], [2, 2], [0, 2]], float)
        >>> points_in_polygon(np.array([[1, 1], [2, 1], [3, 1]], float), square).tolist()
        [True, False, False]
    """
    n = points.shape[0]
    if polygon.shape[0] < 3 or n == 0:
        return np.zeros(n, bool)
    px, py = points[:, 0:1], points[:, 1:2]  # (N, 1)
    x1, y1 = polygon[:, 0][None], polygon[:, 1][None]  # (1, V)
    x2, y2 = np.roll(polygon[:, 0], -1)[None], np.roll(polygon[:, 1], -1)[None]
    # Edge (x1,y1)-(x2,y2) crosses the horizontal ray to the right of the point.
    straddles = (y1 > py) != (y2 > py)  # (N, V)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
    inside = np.count_nonzero(straddles & (px < x_cross), axis=1) % 2 == 1
    # Points on an edge are not "contained" (shapely semantics): collinear and within its extent.
    cross = (x2 - x1) * (py - y1) - (y2 - y1) * (px - x1)
    on_edge = (cross == 0) & (px >= np.minimum(x1, x2)) & (px <= np.maximum(x1, x2)) \
        & (py >= np.minimum(y1, y2)) & (py <= np.maximum(y1, y2))
    return inside & ~on_edge.any(axis=1)


def outside_ignore(people: People, regions: list[np.ndarray]) -> np.ndarray:
    """bool (P, 17): which keypoints of `people` lie outside every ignore region."""
    xy = people.kpts[:, :, :2].reshape(-1, 2)  # (P*17, 2)
    inside = np.zeros(xy.shape[0], bool)
    for poly in regions:
        inside |= points_in_polygon(xy, poly)
    return ~inside.reshape(people.present.shape)


def drop_ignored(people: People, regions: list[np.ndarray]) -> People:
    """poseval's ``removeIgnoredPointsRects``: joints inside an ignore region stop being present;
    a person left with no present joint is removed (also one that had none to begin with)."""
    if not regions:
        return people
    present = people.present & outside_ignore(people, regions)
    keep = present.any(axis=1)
    kept = people.subset(keep)
    kept.present = present[keep]
    return kept


__all__ = [
    "Frame", "MIN_SCORE", "People", "drop_ignored", "empty_people", "outside_ignore", "parse_video",
    "points_in_polygon",
]
