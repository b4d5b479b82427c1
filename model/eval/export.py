"""PoseTrack JSON files: write predictions (or any videos) in either layout poseval reads, read a
folder of videos, convert a folder between layouts (the formats: `tipsd.model.posetrack18`,
`tipsd.model.posetrack17`).

PoseTrack18 layout: poseval (py/convert.py, ``Video.from_new``) needs per video: ``images`` (with
``id`` and ``file_name``, in GT order), ``annotations`` (``image_id``, ``track_id``, ``keypoints``
as 17 x, y, score triplets, ``scores`` per joint; ``score`` per person is kept) and ``categories``
with exactly one ``person`` category listing the 17 keypoint names. `write_predictions` adds the
category block and missing ``track_id`` / ``id`` fields; everything else is written as given.

PoseTrack 2017 layout (``--layout 2017``): one ``annolist`` entry per image, in ``images`` order
(poseval pairs frames by position), written by `tipsd.model.posetrack17.to_annolist`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from tipsd.model.errors import DataError
from tipsd.model.posetrack17 import to_annolist
from tipsd.model.posetrack18 import (
    CATEGORIES, NUM_KEYPOINTS, check_video, in_standard_order, read_video_file, video_files,
)
from tipsd.model.posetrack_layout import LAYOUTS, as_posetrack18


def _video_file(out_dir: Path, name: str) -> Path:
    if not name or name != Path(name).name or name in (".", ".."):
        raise DataError(f"video name {name!r}: must be a plain file name (no folders)")
    return out_dir / f"{name}.json"


def with_poseval_fields(video: Mapping) -> dict:
    """A copy of a prediction video dict with what poseval requires and we can supply: the
    ``categories`` block and, per annotation, ``track_id`` (its rank on its image) and ``id``."""
    out = dict(video)
    out.setdefault("images", [])
    out["categories"] = video.get("categories") or CATEGORIES
    per_image: dict = {}
    anns = []
    for i, ann in enumerate(video.get("annotations", [])):
        ann = dict(ann)
        rank = per_image.get(ann.get("image_id"), 0)
        per_image[ann.get("image_id")] = rank + 1
        ann.setdefault("track_id", rank)
        ann.setdefault("id", i)
        ann.setdefault("category_id", 1)
        anns.append(ann)
    out["annotations"] = anns
    return out


def write_videos(videos: Mapping[str, Mapping], out_dir: str | os.PathLike, *, layout: str = "2018",
                 predictions: bool = True) -> list[Path]:
    """Write one JSON per video, ``out_dir/<video>.json``, in the PoseTrack18 or 2017 layout.

    Args:
        videos: ``{video_name: PoseTrack18 dict}``.
        out_dir: created if missing.
        layout: ``"2018"`` or ``"2017"``.
        predictions: add the fields poseval needs of a prediction file (2018 layout).

    Returns:
        The written paths, in sorted video order.
    """
    if layout not in LAYOUTS:
        raise DataError(f"layout {layout!r} is unknown; valid layouts: {', '.join(LAYOUTS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in sorted(videos):
        path = _video_file(out, name)
        video = videos[name]
        if layout == "2017":
            doc = to_annolist(in_standard_order(video, f"video {name!r}"), f"video {name!r}")
        else:
            doc = with_poseval_fields(video) if predictions else dict(video)
        tmp = path.with_suffix(".json.tmp")
        # Write then rename, so a crashed export never leaves a half file poseval would choke on.
        with open(tmp, "w") as fh:
            json.dump(doc, fh, default=_json_default)
        os.replace(tmp, path)
        paths.append(path)
    return paths


def write_predictions(pred_videos: Mapping[str, Mapping], out_dir: str | os.PathLike,
                      layout: str = "2018") -> list[Path]:
    """Write one prediction JSON per video, ``out_dir/<video>.json``, readable by poseval.

    Args:
        pred_videos: ``{video_name: {"images": [...], "annotations": [...]}}``. Copy the GT
            ``images`` list in (poseval pairs frames by position and maps file names to ids; the
            2017 layout needs it).
        out_dir: created if missing.
        layout: ``"2018"`` (default) or ``"2017"`` (``annolist``).

    Returns:
        The written paths, in sorted video order.

    Example:
        >>> write_predictions({"000342_mpii_test": {"images": [], "annotations": []}}, "preds")
        ... # doctest: +SKIP
        [PosixPath('preds/000342_mpii_test.json')]
    """
    return write_videos(pred_videos, out_dir, layout=layout, predictions=True)


def convert_folder(src_dir: str | os.PathLike, out_dir: str | os.PathLike, *, layout: str,
                   predictions: bool = False) -> list[Path]:
    """Read every video file of a folder (either layout), check it, and write it in `layout`.

    Args:
        src_dir: folder of ``*.json`` video files.
        out_dir: where the converted files go (same names).
        layout: ``"2017"`` or ``"2018"``.
        predictions: the files are predictions (2017: scores kept, no head boxes needed).

    Returns:
        The written paths.
    """
    if layout not in LAYOUTS:
        raise DataError(f"layout {layout!r} is unknown; valid layouts: {', '.join(LAYOUTS)}")
    videos = {}
    for name, path in video_files(src_dir).items():
        video, _ = as_posetrack18(read_video_file(path), str(path), is_gt=not predictions)
        if isinstance(video, Mapping) and "annotations" not in video and "images" in video:
            check_video({**video, "annotations": []}, str(path), is_gt=not predictions)  # unlabelled
        else:
            check_video(video, str(path), is_gt=not predictions)
        videos[name] = video
    return write_videos(videos, out_dir, layout=layout, predictions=predictions)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def load_video_dir(folder: str | os.PathLike) -> dict[str, dict]:
    """Read every ``*.json`` of a folder: ``{video_name (file stem): decoded dict}``.

    Example:
        >>> load_video_dir("posetrack18/annotations/val")  # doctest: +SKIP
        {'000342_mpii_test': {'images': [...], 'annotations': [...], ...}, ...}
    """
    return {name: read_video_file(path) for name, path in video_files(folder).items()}


def prediction_video(
    images: Sequence[Mapping],
    image_ids: Iterable[int],
    keypoints: np.ndarray,
    *,
    joint_scores: np.ndarray | None = None,
    person_scores: Sequence[float] | None = None,
    track_ids: Sequence[int] | None = None,
) -> dict:
    """Build one prediction video dict from arrays (N predicted people).

    Args:
        images: the GT video's ``images`` list (copied, so the export lines up with the GT).
        image_ids: (N,) GT image id of each person.
        keypoints: (N, 17, 2) or (N, 17, 3) x, y[, score] in original-image pixels.
        joint_scores: (N, 17) per-joint scores; default: keypoints[..., 2], else 1.
        person_scores: (N,) person scores; default: the mean joint score.
        track_ids: (N,); default: the person's rank on its image.

    Returns:
        ``{"images": [...], "annotations": [...]}`` for `evaluate` / `write_predictions`.

    Example:
        >>> v = prediction_video([{"id": 7}], [7], np.zeros((1, 17, 2)) + 3.0)
        >>> v["annotations"][0]["keypoints"][:3], v["annotations"][0]["score"]
        ([3.0, 3.0, 1.0], 1.0)
    """
    kp = np.asarray(keypoints, float)
    ids = [int(i) for i in image_ids]
    if kp.ndim != 3 or kp.shape[1] != NUM_KEYPOINTS or kp.shape[2] not in (2, 3) or kp.shape[0] != len(ids):
        raise DataError(f"prediction keypoints: shape {kp.shape} is not (N={len(ids)}, 17, 2 or 3)")
    if joint_scores is None:
        joint_scores = kp[:, :, 2] if kp.shape[2] == 3 else np.ones(kp.shape[:2])
    js = np.asarray(joint_scores, float).reshape(len(ids), NUM_KEYPOINTS)
    triplets = np.concatenate([kp[:, :, :2], js[:, :, None]], axis=2)  # (N, 17, 3)
    rank: dict[int, int] = {}
    anns = []
    for n, image_id in enumerate(ids):
        r = rank.get(image_id, 0)
        rank[image_id] = r + 1
        anns.append({
            "image_id": image_id, "id": n, "category_id": 1,
            "track_id": int(track_ids[n]) if track_ids is not None else r,
            "keypoints": triplets[n].ravel().tolist(), "scores": js[n].tolist(),
            "score": float(person_scores[n]) if person_scores is not None else float(js[n].mean()),
        })
    return {"images": [dict(im) for im in images], "annotations": anns}


__all__ = ["convert_folder", "load_video_dir", "prediction_video", "with_poseval_fields", "write_predictions",
           "write_videos"]
