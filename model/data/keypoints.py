"""The PoseTrack18 keypoint layout: names, left/right pairs, the head-box and the heatmap stride.

Every other module of `tipsd.model.data` (and the training step and prediction) uses these
constants. `tipsd.model.eval.posetrack_json` spells the same order out again, because the evaluation
package imports numpy only (importing this module runs `tipsd.model.data`'s torch imports); a test
keeps the two equal.
"""
from __future__ import annotations

# PoseTrack18 order (17 slots). The ears (3, 4) exist in the format but are never labelled.
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

# Heatmaps are 1/STRIDE of the input crop; heatmap pixel (j, i) <-> input-crop pixel (STRIDE*j, STRIDE*i).
STRIDE = 4


def flip_permutation() -> list[int]:
    """Joint index permutation of a horizontal flip: ``new[j] = old[perm[j]]``.

    Returns:
        A list of length NUM_KEYPOINTS.

    Example:
        >>> flip_permutation()[5], flip_permutation()[0]
        (6, 0)
    """
    perm = list(range(NUM_KEYPOINTS))
    for a, b in FLIP_PAIRS:
        perm[a], perm[b] = b, a
    return perm


__all__ = ["FLIP_PAIRS", "KEYPOINT_NAMES", "NUM_KEYPOINTS", "STRIDE", "UNLABELLED_SLOTS", "flip_permutation"]
