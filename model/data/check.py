"""Validate a PoseTrack folder and compute its statistics (`tipsd data check`).

Every annotation file of every split is read (either layout, `tipsd.model.data.posetrack.load_video`)
and its images looked at (`image_problem`); a file that cannot be used is listed with the reason and
left out of the numbers, and the others are still counted. A split whose files carry no
annotations (the release's test split) is an unlabelled split: its JSON and images are checked and
it is reported with 0 labelled frames.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from tipsd.model.data.crop_cache import verify_image
from tipsd.model.data.keypoints import KEYPOINT_NAMES, NUM_KEYPOINTS
from tipsd.model.data.posetrack import keypoint_array, load_video, split_dirs
from tipsd.model.errors import DataError
from tipsd.model.posetrack18 import require_folder

COUNTS = ("videos", "frames", "labelled_frames", "people", "tracks", "ignore_regions")
PER_VIDEO = ("frames", "labelled_frames", "people", "tracks")


def find_splits(root: str | Path) -> list[str]:
    """Split names (folders under ``annotations/``), train and val first."""
    root = require_folder(root, "dataset")
    for base in (root, root / "posetrack_data"):
        ann = base / "annotations"
        if ann.is_dir():
            names = sorted(p.name for p in ann.iterdir() if p.is_dir())
            return sorted(names, key=lambda n: (n not in ("train", "val"), n != "train", n))
    raise DataError(f"{root}: no annotations/ folder (expected annotations/<split>/<video>.json)")


def image_problem(path: Path, decode: bool = True) -> str | None:
    """Why the image file at `path` cannot be used (``"is missing"``, ``"cannot be decoded (...)"``),
    or None. The one place `tipsd data check` judges an image file; `decode` False only looks that
    the file exists (`tipsd run`'s pre-run check: a stat per image instead of a decode)."""
    if not path.is_file():
        return "is missing"
    if not decode:
        return None
    try:  # what training would refuse: 0-byte, truncated, not an image
        verify_image(path)
    except DataError as err:
        return str(err).removeprefix(f"image file {path} ")
    return None


def video_stats(video: dict) -> dict:
    """Counts of one loaded video: frames, labelled frames, people (labelled persons on labelled
    frames), tracks, ignore regions, and visible joints per slot (``joints``, int array (17,))."""
    labelled = set() if video.get("_unlabelled") else \
        {img["id"] for img in video["images"] if img.get("is_labeled", True)}
    out = dict(frames=len(video["images"]), labelled_frames=len(labelled), people=0, tracks=0,
               ignore_regions=sum(len(img.get("ignore_regions_x") or []) for img in video["images"]))
    joints = np.zeros(NUM_KEYPOINTS, dtype=np.int64)
    tracks = set()
    for ann in video["annotations"]:
        if ann["image_id"] not in labelled:
            continue
        vis = keypoint_array(ann)[:, 2] > 0
        if vis.any():
            out["people"] += 1
            tracks.add(ann["track_id"])
            joints += vis
    out["tracks"] = len(tracks)
    out["joints"] = joints
    return out


def _missing_images(video: dict, image_root: Path, decode: bool = True) -> str | None:
    """The reason a video's images make it unusable, or None (`decode`: as in `image_problem`)."""
    bad = [(img, problem) for img in video["images"]
           if (problem := image_problem(image_root / img["file_name"], decode)) is not None]
    if not bad:
        return None
    (img, problem), more = bad[0], len(bad) - 1
    return (f"image file {image_root / img['file_name']} {problem} (file_name of image {img['id']}"
            + (f"; {more} more image files like it" if more else "") + ")")


def split_stats(root: str | Path, split: str, check_images: bool | str = True) -> dict:
    """Statistics of one split, and the files that could not be used (`check_images`: as in
    `dataset_stats`).

    Returns:
        ``{"layout": "2017" | "2018" | "2017+2018" | "-", "labelled": "yes" | "no" | "k/n",
        "videos", "frames", "labelled_frames", "people", "tracks", "ignore_regions",
        "tracks_per_video", "joints": {name: visible count}, "per_video": [{"video", "frames",
        "labelled_frames", "people", "tracks"}], "unusable": [{"file", "reason"}]}``.
    """
    ann_dir, image_root = split_dirs(root, split)
    files = [p for p in sorted(ann_dir.glob("*.json")) if p.is_file()]
    stats: dict = dict.fromkeys(COUNTS, 0)
    joints = np.zeros(NUM_KEYPOINTS, dtype=np.int64)
    layouts: Counter = Counter()
    per_video, unusable, unlabelled = [], [], 0
    if not files:
        unusable.append(dict(file=str(ann_dir), reason="no .json video files in this folder"))
    for path in files:
        try:
            video = load_video(path)
            problem = _missing_images(video, image_root, decode=check_images != "exist") if check_images else None
        except DataError as err:
            problem = str(err).removeprefix(f"{path}: ")
        if problem is not None:
            unusable.append(dict(file=str(path), reason=problem))
            continue
        layouts[video["_layout"]] += 1
        unlabelled += bool(video["_unlabelled"])
        one = video_stats(video)
        joints += one.pop("joints")
        stats["videos"] += 1
        for key, value in one.items():
            stats[key] += value
        per_video.append(dict(video=path.stem, **{k: one[k] for k in PER_VIDEO}))
    n = stats["videos"]
    stats["layout"] = "+".join(sorted(layouts)) or "-"
    stats["labelled"] = "no" if n and unlabelled == n else ("yes" if not unlabelled else f"{n - unlabelled}/{n}")
    stats["tracks_per_video"] = stats["tracks"] / n if n else 0.0
    stats["joints"] = {name: int(c) for name, c in zip(KEYPOINT_NAMES, joints)}
    stats["per_video"] = per_video
    stats["unusable"] = unusable
    return stats


def dataset_stats(root: str | Path, check_images: bool | str = True) -> dict[str, dict]:
    """Read every split of a PoseTrack folder (either layout) and return its statistics per split;
    files that cannot be used are listed in each split's ``unusable`` (see `dataset_problem`).

    Args:
        root: dataset root.
        check_images: True: also decode every image file (`image_problem`, what `tipsd data check`
            does); ``"exist"``: only look that each listed image file exists (`tipsd run`'s pre-run
            check); False: no image is looked at.

    Returns:
        ``{split: split_stats(...)}``.

    Example:
        >>> dataset_stats(resolve_dataset("synth:tiny"))["val"]["videos"]  # doctest: +SKIP
        2
    """
    splits = find_splits(root)
    if not splits:
        raise DataError(f"{root}: annotations/ has no split folder")
    return {s: split_stats(root, s, check_images) for s in splits}


def dataset_problem(root: str | Path, stats: dict[str, dict], where: str = "listed above") -> str | None:
    """One line saying why the dataset is not fit for use (files that could not be used, or no
    labelled person anywhere), or None. `where` says where the unusable files are listed: above, as
    `tipsd data check` prints them, or by the command a caller names."""
    unusable = [u for s in stats.values() for u in s["unusable"]]
    if unusable:
        total = sum(s["videos"] for s in stats.values()) + len(unusable)
        first = unusable[0]
        return (f"{root}: {len(unusable)} of {total} annotation files could not be used ({where}); "
                f"first: {first['file']}: {first['reason']}")
    if sum(s["people"] for s in stats.values()) == 0:
        return f"{root}: no labelled frame with a labelled person in any split"
    return None


def _table(rows: list[tuple[str, ...]], left: int = 1) -> list[str]:
    """Aligned columns: the first `left` to the left, the others (numbers) to the right."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(widths[i]) if i < left else c.rjust(widths[i]) for i, c in enumerate(r)).rstrip()
            for r in rows]


def format_stats(stats: dict[str, dict], per_video: bool = False) -> str:
    """Plain text of `dataset_stats` output: per split its layout, labels and totals, visible joints
    per joint, a line per unlabelled split, the files not used and why; with `per_video`, a line per
    video."""
    splits = list(stats)
    rows = [("", *splits), ("layout", *(stats[s]["layout"] for s in splits)),
            ("labelled", *(stats[s]["labelled"] for s in splits))]
    for key in COUNTS:
        rows.append((key, *(str(stats[s][key]) for s in splits)))
        if key == "tracks":
            rows.append(("tracks_per_video", *(f"{stats[s]['tracks_per_video']:.1f}" for s in splits)))
    rows.append(("visible joints:", *("" for _ in splits)))
    for name in KEYPOINT_NAMES:
        rows.append((f"  {name}", *(str(stats[s]["joints"][name]) for s in splits)))
    lines = _table(rows)
    for s in splits:
        if stats[s]["labelled"] == "no":
            lines.append(f"{s}: unlabelled split (its files have no annotations): JSON and images checked, "
                         "0 labelled frames")
    if per_video:
        video_rows = [("split", "video", *PER_VIDEO)]
        video_rows += [(s, v["video"], *(str(v[k]) for k in PER_VIDEO)) for s in splits for v in stats[s]["per_video"]]
        lines += ["per video:", *("  " + line for line in _table(video_rows, left=2))]
    unusable = [u for s in splits for u in stats[s]["unusable"]]
    if unusable:
        lines.append(f"files not used ({len(unusable)}):")
        lines += [f"  {u['file']}: {u['reason']}" for u in unusable]
    return "\n".join(lines)


__all__ = ["dataset_problem", "dataset_stats", "find_splits", "format_stats", "image_problem", "split_stats",
           "video_stats"]
