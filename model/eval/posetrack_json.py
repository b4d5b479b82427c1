"""PoseTrack video dicts → per-frame numpy arrays (`People`, `Frame`, `Video`) for the evaluators.

A video comes in either release layout (PoseTrack18, or 2017's ``annolist``) and is read into the
PoseTrack18 form with the joints in the standard slots (`tipsd.model.posetrack_layout`); the format,
its keypoint layout and its validation live in `tipsd.model.posetrack18`. This module turns a
checked video into arrays and holds the ignore-region geometry.

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
from tipsd.model.posetrack18 import MIN_SCORE, NUM_KEYPOINTS, UNLABELLED_SLOTS, check_video
from tipsd.model.posetrack_layout import as_posetrack18


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


@dataclass
class Video:
    """One parsed video file: its frames, and what pairing them with another file's may rely on.

    Attributes:
        frames: ``{image_id: Frame}`` in file order.
        source: names the file in messages.
        layout: ``"2017"`` or ``"2018"``.
        lists_frames: the file lists its frames (``images`` / ``annolist``), so its frames have
            positions; a prediction file without ``images`` is paired by ``image_id`` alone.
        ids_from_positions: the image ids are positions in the file (the 2017 layout has no ids).
    """

    frames: dict[int, Frame]
    source: str
    layout: str = "2018"
    lists_frames: bool = True
    ids_from_positions: bool = False


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


def parse_video(data: Any, source: str, *, is_gt: bool) -> Video:
    """Read one video dict of either layout (`tipsd.model.posetrack_layout.as_posetrack18`),
    validate it (`tipsd.model.posetrack18.check_video`) and group its people by image.

    Args:
        data: the decoded JSON: PoseTrack18 (``{"images": [...], "annotations": [...]}``) or 2017
            (``{"annolist": [...]}``). Predictions may omit ``images``; ground truth needs it (frame
            order and ignore regions come from it) and needs annotations (an unlabelled test-split
            file cannot be scored).
        source: names the video in error messages (a file path or ``video 'name'``).
        is_gt: ground truth (needs ``bbox_head`` on people with labelled joints) or predictions.

    Returns:
        The `Video`; its frames in the order of ``images`` (a prediction file without ``images``:
        in order of first appearance in ``annotations``).

    Example:
        >>> video = parse_video({"images": [{"id": 1}], "annotations": []}, "v", is_gt=True)
        >>> list(video.frames), len(video.frames[1].people), video.layout
        ([1], 0, '2018')
    """
    data, layout = as_posetrack18(data, source, is_gt=is_gt)
    if is_gt and isinstance(data, Mapping) and "annotations" not in data and "images" in data:
        raise DataError(f"{source}: field 'annotations' is missing: an unlabelled file (a test split) "
                        "cannot be the ground truth of a score")
    check_video(data, source, is_gt=is_gt)
    regions: dict[int, list[np.ndarray]] = {}
    for image in data.get("images") or []:
        regions[int(image["id"])] = _ignore_regions(image)
    by_image: dict[int, list[tuple[int, dict]]] = {image_id: [] for image_id in regions}
    for i, ann in enumerate(data["annotations"]):
        by_image.setdefault(int(ann["image_id"]), []).append((i, ann))
    frames = {
        image_id: Frame(image_id, _parse_people(anns, source, is_gt), regions.get(image_id, []))
        for image_id, anns in by_image.items()
    }
    return Video(frames, source, layout, lists_frames=bool(regions), ids_from_positions=layout == "2017")


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
    "Frame", "MIN_SCORE", "People", "Video", "drop_ignored", "empty_people", "outside_ignore", "parse_video",
    "points_in_polygon",
]
