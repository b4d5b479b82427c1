"""tipsd.model.data: PoseTrack18-format loading, the synthetic video generator, the crop cache.

Public API (see docs/architecture.md, "Data API"):

- `resolve_dataset(spec, cache_dir="")`: ``"synth:<preset>"`` -> generated (cached) dataset root,
  else a PoseTrack18 folder.
- `PoseTrackClips(root, split, *, input_size, delta, sigma, train, seed, cache_dir, max_samples)`.
- `load_split(root, split)`: validated per-video dicts (PoseTrack18 or 2017 files, read as PoseTrack18).
- `FLIP_PAIRS`, `KEYPOINT_NAMES`, `NUM_KEYPOINTS`, `STRIDE`.
- `generate_dataset(out_dir, preset, seed)`, `SYNTH_PRESETS`, `dataset_stats(root)`,
  `dataset_problem(root, stats)`.
"""
from tipsd.model.data.check import dataset_problem, dataset_stats, format_stats
from tipsd.model.data.clips import PoseTrackClips, heatmap_to_input, input_to_image
from tipsd.model.data.keypoints import FLIP_PAIRS, KEYPOINT_NAMES, NUM_KEYPOINTS, STRIDE, flip_permutation
from tipsd.model.data.posetrack import load_split
from tipsd.model.data.resolve import cache_root, resolve_dataset
from tipsd.model.data.synth import SYNTH_PRESETS, generate_dataset

__all__ = [
    "FLIP_PAIRS", "KEYPOINT_NAMES", "NUM_KEYPOINTS", "PoseTrackClips", "STRIDE", "SYNTH_PRESETS",
    "cache_root", "dataset_problem", "dataset_stats", "flip_permutation", "format_stats", "generate_dataset",
    "heatmap_to_input", "input_to_image", "load_split", "resolve_dataset",
]
