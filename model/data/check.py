"""Validate a PoseTrack18-format folder and compute its statistics (`tipsd data check`)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tipsd.model.data.crop_cache import verify_image
from tipsd.model.data.keypoints import KEYPOINT_NAMES, NUM_KEYPOINTS
from tipsd.model.data.posetrack import keypoint_array, load_split, split_dirs
from tipsd.model.errors import DataError


def find_splits(root: str | Path) -> list[str]:
    """Split names (folders under ``annotations/``), train and val first."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"dataset folder {root} does not exist")
    for base in (root, root / "posetrack_data"):
        ann = base / "annotations"
        if ann.is_dir():
            names = sorted(p.name for p in ann.iterdir() if p.is_dir())
            return sorted(names, key=lambda n: (n not in ("train", "val"), n != "train", n))
    raise DataError(f"{root}: no annotations/ folder (expected annotations/<split>/<video>.json)")


def split_stats(root: str | Path, split: str, check_images: bool = True) -> dict:
    """Statistics of one split; raises DataError on a bad file or a missing image.

    Returns:
        ``{"videos", "frames", "labelled_frames", "people", "tracks", "ignore_regions",
        "joints": {name: visible count}}``.
    """
    videos = load_split(root, split)
    _, image_root = split_dirs(root, split)
    stats = dict(videos=len(videos), frames=0, labelled_frames=0, people=0, tracks=0, ignore_regions=0)
    joints = np.zeros(NUM_KEYPOINTS, dtype=np.int64)
    for video in videos:
        stats["frames"] += len(video["images"])
        labelled = {img["id"] for img in video["images"] if img.get("is_labeled", True)}
        stats["labelled_frames"] += len(labelled)
        for img in video["images"]:
            stats["ignore_regions"] += len(img.get("ignore_regions_x", []))
            if check_images and not (image_root / img["file_name"]).is_file():
                raise DataError(f"image file {image_root / img['file_name']} is missing "
                                f"(file_name of image {img['id']} in {video['_file']})")
            if check_images:  # what training would refuse: 0-byte, truncated, not an image
                verify_image(image_root / img["file_name"])
        tracks = set()
        for ann in video["annotations"]:
            if ann["image_id"] not in labelled:
                continue
            vis = keypoint_array(ann)[:, 2] > 0
            if vis.any():
                stats["people"] += 1
                tracks.add(ann["track_id"])
                joints += vis
        stats["tracks"] += len(tracks)
    stats["joints"] = {name: int(c) for name, c in zip(KEYPOINT_NAMES, joints)}
    return stats


def dataset_stats(root: str | Path, check_images: bool = True) -> dict[str, dict]:
    """Validate every split of a PoseTrack18 folder and return its statistics per split.

    Args:
        root: dataset root.
        check_images: also check that every image file exists and decodes.

    Returns:
        ``{split: split_stats(...)}``.

    Example:
        >>> dataset_stats(resolve_dataset("synth:tiny"))["val"]["videos"]  # doctest: +SKIP
        2
    """
    splits = find_splits(root)
    if not splits:
        raise DataError(f"{root}: annotations/ has no split folder")
    out = {s: split_stats(root, s, check_images) for s in splits}
    if sum(s["labelled_frames"] for s in out.values()) == 0 or sum(s["people"] for s in out.values()) == 0:
        raise DataError(f"{root}: no labelled frame with a labelled person in any split")
    return out


def format_stats(stats: dict[str, dict]) -> str:
    """Plain-text table of `dataset_stats` output: totals per split, then visible joints per joint."""
    splits = list(stats)
    rows = [("", *splits)]
    for key in ("videos", "frames", "labelled_frames", "people", "tracks", "ignore_regions"):
        rows.append((key, *(str(stats[s][key]) for s in splits)))
    rows.append(("visible joints:", *("" for _ in splits)))
    for name in KEYPOINT_NAMES:
        rows.append((f"  {name}", *(str(stats[s]["joints"][name]) for s in splits)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r))
                     for r in rows)


__all__ = ["dataset_stats", "find_splits", "format_stats", "split_stats"]
