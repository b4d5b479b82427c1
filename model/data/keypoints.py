"""The keypoint layout as the data pipeline uses it: the PoseTrack18 slots and flip pairs (defined in
`tipsd.model.posetrack18`), the heatmap stride and the flip permutation.
"""
from __future__ import annotations

from tipsd.model.posetrack18 import FLIP_PAIRS, KEYPOINT_NAMES, NUM_KEYPOINTS, UNLABELLED_SLOTS

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
