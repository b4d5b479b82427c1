"""`PoseTrackClips`: top-down three-frame samples (t-delta, t, t+delta) with heatmap targets.

The three crops come from the decoded-crop cache (`crop_cache`); training augmentation (flip with
left/right swap, scale, rotation) is one affine applied identically to the three cached crops at load
time, so it stays exact and no JPEG is decoded after the first run.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from tipsd.model.data.crop_cache import CACHE_MARGIN, cache_shape, load_or_build, sample_box
from tipsd.model.data.geometry import (BOX_ENLARGE, apply_affine, compose_affine, crop_affine, gaussian_heatmaps,
                                       invert_affine, warp)
from tipsd.model.data.keypoints import NUM_KEYPOINTS, STRIDE, flip_permutation
from tipsd.model.data.posetrack import build_samples, keypoint_array, load_split
from tipsd.model.errors import DataError

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
SCALE_FACTOR = 0.25  # training scale jitter: s ~ clip(1 + N(0, 0.25), 0.75, 1.25) (<= CACHE_MARGIN)
ROT_FACTOR = 30.0  # training rotation: clip(N(0, 30), -45, 45) degrees, with probability ROT_PROB
ROT_PROB = 0.6
FLIP_PROB = 0.5


class PoseTrackClips(torch.utils.data.Dataset):
    """Top-down samples of a PoseTrack18-format split: one per labelled person at a labelled frame.

    Args:
        root: dataset root (see `resolve_dataset`).
        split: ``"train"`` or ``"val"``.
        input_size: ``(H, W)`` of the crops.
        delta: neighbour frame offset; t +- delta is clamped into the video.
        sigma: Gaussian std of the heatmap targets, in heatmap pixels.
        stride: input pixels per heatmap pixel (4, 2 or 1); heatmaps are ``(H/stride, W/stride)``.
        train: apply random flip / scale / rotation.
        seed: mixed into the augmentation randomness (which also follows torch's RNG, so DataLoader
            workers draw different augmentations).
        cache_dir: cache folder of the decoded crops ("" = ``$TIPSD_CACHE_DIR`` or ``~/.cache/tipsd``).
        max_samples: keep this many samples, evenly spaced over the split (0 = all).
        flip_prob, rot_factor, scale_factor: training augmentation: horizontal flip probability,
            rotation std in degrees (clipped at 1.5x, applied with probability 0.6), scale std
            (clipped at +-1x, at most the cache margin 0.25).
        box_enlarge: person boxes are enlarged by this factor around their centre (HRNet: 1.25).

    Attributes:
        videos: the split's validated video JSON dicts; samples: the `Sample` list;
        cache_status: ``"loaded"``, ``"built"`` or ``"rebuilt"``.

    Example:
        >>> ds = PoseTrackClips(resolve_dataset("synth:tiny"), "val", input_size=(64, 48))  # doctest: +SKIP
        >>> ds[0]["frames"].shape  # doctest: +SKIP
        torch.Size([3, 3, 64, 48])
    """

    def __init__(self, root: str | Path, split: str, *, input_size: tuple[int, int] = (128, 96), delta: int = 1,
                 sigma: float = 1.5, train: bool = True, seed: int = 0, cache_dir: str = "", max_samples: int = 0,
                 stride: int = STRIDE, flip_prob: float = FLIP_PROB, rot_factor: float = ROT_FACTOR,
                 scale_factor: float = SCALE_FACTOR, box_enlarge: float = BOX_ENLARGE):
        h, w = int(input_size[0]), int(input_size[1])
        if h % STRIDE or w % STRIDE or h < STRIDE or w < STRIDE:
            raise DataError(f"input_size {input_size!r} must be positive multiples of {STRIDE}")
        if stride not in (1, 2, 4):
            raise DataError(f"heatmap stride {stride!r} must be 4, 2 or 1")
        self.stride = int(stride)
        if not 0 <= scale_factor <= CACHE_MARGIN - 1 + 1e-9:
            raise DataError(f"scale jitter {scale_factor!r} must be in [0, {CACHE_MARGIN - 1:g}] (the crop cache's margin)")
        if not 0.5 <= box_enlarge <= 3.0:
            raise DataError(f"box enlargement {box_enlarge!r} must be in [0.5, 3]")
        self.box_enlarge = float(box_enlarge)
        self.flip_prob, self.rot_factor, self.scale_factor = float(flip_prob), float(rot_factor), float(scale_factor)
        if delta < 1:
            raise DataError(f"delta {delta!r} must be >= 1")
        self.root, self.split = Path(root), split
        self.input_size, self.delta, self.sigma = (h, w), int(delta), float(sigma)
        self.train, self.seed = bool(train), int(seed)
        self.videos = load_split(root, split)
        all_samples = build_samples(self.videos, self.delta)
        if not all_samples:
            raise DataError(f"{self.root}: split {split!r} has no labelled person on a labelled frame")
        self.crops, self.cache_status = load_or_build(root, split, self.videos, all_samples, self.input_size,
                                                      self.delta, cache_dir, self.box_enlarge)
        index = np.arange(len(all_samples))
        if 0 < max_samples < len(all_samples):
            index = np.unique(np.linspace(0, len(all_samples) - 1, max_samples).round().astype(np.int64))
        self.index = index  # positions in the cache of the kept samples
        self.samples = [all_samples[i] for i in index]
        self._flip = flip_permutation()

    def __len__(self) -> int:
        return len(self.samples)

    def _augmentation(self, i: int) -> tuple[bool, float, float]:
        """Draw (flip, scale, rotation) for one item; torch's RNG keeps DataLoader workers apart."""
        base = int(torch.randint(0, 2**62, (1,)))
        rng = np.random.default_rng([self.seed, i, base])
        flip = bool(rng.random() < self.flip_prob)
        sf, rf = self.scale_factor, self.rot_factor
        scale = float(np.clip(1 + rng.normal(0, sf), 1 - sf, 1 + sf)) if sf > 0 else float(1 + 0 * rng.normal())
        rot = float(np.clip(rng.normal(0, rf), -1.5 * rf, 1.5 * rf)) if rng.random() < ROT_PROB else 0.0
        return flip, scale, rot

    def __getitem__(self, i: int) -> dict:
        flip, scale, rot = self._augmentation(i) if self.train else (False, 1.0, 0.0)
        return self.sample(i, flip, scale, rot)

    def sample(self, i: int, flip: bool = False, scale: float = 1.0, rot: float = 0.0) -> dict:
        """Sample `i` with the given augmentation (no augmentation by default): the dict of `__getitem__`."""
        s = self.samples[i]
        video = self.videos[s.video]
        h, w = self.input_size
        hc, wc = cache_shape(self.input_size)
        cx, cy, ps = sample_box(video, s, self.input_size, self.box_enlarge)
        to_image = crop_affine((cx, cy), ps * scale, (h, w), rot_deg=rot, flip=flip)  # input px -> image px
        cached = self.crops[self.index[i]]  # (3, Hc, Wc, 3) uint8
        if (flip, scale, rot) == (False, 1.0, 0.0):
            # No augmentation: the input crop is the centre of the cached crop, an exact slice.
            top, left = (hc - h) // 2, (wc - w) // 2
            frames = np.asarray(cached[:, top:top + h, left:left + w])
        else:
            to_cache = compose_affine(invert_affine(crop_affine((cx, cy), ps, (hc, wc))), to_image)
            frames = np.stack([warp(np.asarray(cached[f]), to_cache, (h, w)) for f in range(3)])
        x = (frames.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD  # (3, H, W, 3)
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))  # (T=3, C=3, H, W)

        from_image = invert_affine(to_image)
        kps = np.zeros((3, NUM_KEYPOINTS, 3), dtype=np.float32)
        hm_size = (h // self.stride, w // self.stride)
        heatmaps = np.zeros((3, NUM_KEYPOINTS, *hm_size), dtype=np.float32)
        weights = np.zeros((3, NUM_KEYPOINTS), dtype=np.float32)
        for f, a in enumerate(s.anns):
            if a < 0:  # neighbour frame without this track (unlabelled frame or a track gap)
                continue
            kp = keypoint_array(video["annotations"][a])
            kp[:, :2] = apply_affine(from_image, kp[:, :2])
            if flip:  # the mirrored person's left joints are the original right ones
                kp = kp[self._flip]
            kp[kp[:, 2] <= 0, :2] = 0.0
            kps[f] = kp
            heatmaps[f], weights[f] = gaussian_heatmaps(kp, hm_size, self.sigma, self.stride)
        ann = video["annotations"][s.anns[1]]
        return {
            "frames": torch.from_numpy(x),  # (3, 3, H, W) float32
            "heatmaps": torch.from_numpy(heatmaps),  # (3, K, H/stride, W/stride)
            "target_weight": torch.from_numpy(weights),  # (3, K)
            "keypoints": torch.from_numpy(kps),  # (3, K, 3) input-crop pixels + visibility
            "affine": torch.from_numpy(to_image.astype(np.float32)),  # (2, 3) input px -> image px
            "image_id": torch.tensor(s.image_id, dtype=torch.int64),
            "video": torch.tensor(s.video, dtype=torch.int64),  # index into self.videos
            "track_id": torch.tensor(s.track_id, dtype=torch.int64),
            "score": torch.tensor(float(ann.get("score", 1.0)), dtype=torch.float32),
        }


def input_to_image(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Map input-crop points ``(..., 2)`` back to original-image pixels with a sample's ``affine``.

    Example:
        >>> input_to_image(np.array([[0.0, 0.0]]), np.array([[2, 0, 5], [0, 2, 7]]))
        array([[5., 7.]])
    """
    return apply_affine(np.asarray(affine, dtype=np.float64), points)


def heatmap_to_input(points: np.ndarray) -> np.ndarray:
    """Heatmap coordinates ``(..., 2)`` to input-crop pixels (the inverse of the target encoding)."""
    return np.asarray(points, dtype=np.float64) * STRIDE


assert CACHE_MARGIN >= 1 + SCALE_FACTOR - 1e-9 and math.isfinite(ROT_FACTOR)  # zoom-out stays inside the cache

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "PoseTrackClips", "heatmap_to_input", "input_to_image"]
