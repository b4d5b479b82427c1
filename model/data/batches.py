"""Whole batches of `PoseTrackClips` samples at once: one gather, one warp, one heatmap render.

`PoseTrackClips.__getitem__` builds one sample with PIL and numpy (about 5 ms a sample without
augmentation, 15 ms with it, on one CPU core: more than the training step of the `quick` network).
`ClipBatches` produces the same dict for a whole batch of indices with a handful of tensor
operations: the cached uint8 crops of the batch are gathered, warped by one `grid_sample` with each
sample's augmentation affine (bilinear, black outside the cache, as `warp`), normalised, and the
Gaussian targets are rendered by one broadcast. The augmentation draws come from a
`torch.Generator`, so a training run is a function of its seed on any device, and the crops can
live on the GPU (uint8) so that the loader never starves it.

Geometry is `geometry.crop_affine`'s, vectorised: pixel i has its centre at coordinate i, an affine
maps output (crop) pixels to source pixels.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from tipsd.model.data.clips import IMAGENET_MEAN, IMAGENET_STD, ROT_PROB, PoseTrackClips
from tipsd.model.data.crop_cache import cache_shape, sample_box
from tipsd.model.data.keypoints import NUM_KEYPOINTS, flip_permutation
from tipsd.model.data.posetrack import keypoint_array


def crop_affines(center: torch.Tensor, pixel_size: torch.Tensor, out_size: tuple[int, int],
                 rot_deg: torch.Tensor | None = None, flip: torch.Tensor | None = None) -> torch.Tensor:
    """`geometry.crop_affine` for a batch: crop pixels -> image pixels.

    Args:
        center: `(B, 2)` image pixels. pixel_size: `(B,)` image pixels per crop pixel.
        out_size: crop `(H, W)`.
        rot_deg: `(B,)` clockwise rotation of the content (as displayed), or None.
        flip: `(B,)` bool, mirror left-right, or None.

    Returns:
        float64 `(B, 2, 3)`.
    """
    h, w = out_size
    b = center.shape[0]
    t = torch.deg2rad(rot_deg.double()) if rot_deg is not None else torch.zeros(b, dtype=torch.float64)
    cos, sin = torch.cos(t), torch.sin(t)
    sx = 1.0 - 2.0 * flip.double() if flip is not None else torch.ones(b, dtype=torch.float64)
    ps = pixel_size.double()
    lin = torch.stack([torch.stack([cos * sx, sin], -1), torch.stack([-sin * sx, cos], -1)], -2)  # R(-t) @ F
    lin = lin * ps[:, None, None]
    mid = torch.tensor([(w - 1) / 2.0, (h - 1) / 2.0], dtype=torch.float64)
    offset = center.double() - lin @ mid
    return torch.cat([lin, offset[..., None]], -1)


def invert_affines(a: torch.Tensor) -> torch.Tensor:
    """Inverse of `(B, 2, 3)` affines."""
    lin_inv = torch.linalg.inv(a[..., :2])
    return torch.cat([lin_inv, -(lin_inv @ a[..., 2:])], -1)


def compose_affines(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """`a ∘ b` (apply `b` first), both `(B, 2, 3)`."""
    return torch.cat([a[..., :2] @ b[..., :2], a[..., :2] @ b[..., 2:] + a[..., 2:]], -1)


class ClipBatches:
    """Batched view of a `PoseTrackClips` dataset (same samples, same dict, same geometry).

    Args:
        ds: the dataset (its crop cache, samples and augmentation settings are used).
        device: where batches (and, when `on_device`, the uint8 crops) live.
        on_device: copy the whole crop cache to `device` once (for a GPU); otherwise each batch's
            crops are gathered from the (memory-mapped) cache on the host.

    Example:
        >>> batches = ClipBatches(PoseTrackClips(root, "train", input_size=(64, 48)))  # doctest: +SKIP
        >>> batches.batch(torch.arange(8), torch.Generator().manual_seed(0))["frames"].shape  # doctest: +SKIP
        torch.Size([8, 3, 3, 64, 48])
    """

    def __init__(self, ds: PoseTrackClips, device: torch.device | str = "cpu", on_device: bool = False):
        self.ds = ds
        self.device = torch.device(device)
        h, w = ds.input_size
        self.hc, self.wc = cache_shape(ds.input_size)
        n = len(ds)
        boxes = np.array([sample_box(ds.videos[s.video], s, ds.input_size, ds.box_enlarge) for s in ds.samples], dtype=np.float64)
        self.center = torch.from_numpy(boxes[:, :2])  # (N, 2) image pixels
        self.pixel_size = torch.from_numpy(boxes[:, 2])  # (N,)
        kps = np.zeros((n, 3, NUM_KEYPOINTS, 3), dtype=np.float64)  # image pixels + labelled flag
        for i, s in enumerate(ds.samples):
            video = ds.videos[s.video]
            for f, a in enumerate(s.anns):
                if a >= 0:  # a neighbour frame without this track stays unlabelled
                    kps[i, f] = keypoint_array(video["annotations"][a])
        self.keypoints = torch.from_numpy(kps)
        self.image_id = torch.tensor([s.image_id for s in ds.samples], dtype=torch.int64)
        self.video = torch.tensor([s.video for s in ds.samples], dtype=torch.int64)
        self.track_id = torch.tensor([s.track_id for s in ds.samples], dtype=torch.int64)
        self.score = torch.tensor([float(ds.videos[s.video]["annotations"][s.anns[1]].get("score", 1.0))
                                   for s in ds.samples], dtype=torch.float32)
        self._crops_dev = (torch.from_numpy(np.ascontiguousarray(ds.crops[ds.index])).to(self.device)
                           if on_device else None)
        self._flip = torch.tensor(flip_permutation())
        self._mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1) * 255.0
        self._std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1) * 255.0

    def __len__(self) -> int:
        return len(self.ds)

    def draw_augmentation(self, b: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`(flip (B,) bool, scale (B,), rotation (B,) degrees)` drawn from `gen` with the dataset's settings.

        Same distributions as `PoseTrackClips._augmentation`: flip with probability `flip_prob`;
        scale `clip(1 + N(0, sf), 1 - sf, 1 + sf)`; rotation `clip(N(0, rf), -1.5 rf, 1.5 rf)` on a
        fraction ROT_PROB of the crops, else 0.
        """
        u = torch.rand(b, 3, generator=gen, dtype=torch.float64)
        z = torch.randn(b, 2, generator=gen, dtype=torch.float64)
        sf, rf = self.ds.scale_factor, self.ds.rot_factor
        flip = u[:, 0] < self.ds.flip_prob
        scale = (1 + z[:, 0] * sf).clamp(1 - sf, 1 + sf)
        rot = torch.where(u[:, 1] < ROT_PROB, (z[:, 1] * rf).clamp(-1.5 * rf, 1.5 * rf), torch.zeros(b, dtype=torch.float64))
        return flip, scale, rot

    def _crops(self, idx: torch.Tensor) -> torch.Tensor:
        """uint8 `(B, 3, Hc, Wc, 3)` crops of the batch, on the device."""
        if self._crops_dev is not None:
            return self._crops_dev[idx.to(self.device)]
        pos = self.ds.index[idx.numpy()]
        return torch.from_numpy(np.asarray(self.ds.crops[pos])).to(self.device, non_blocking=True)

    def batch(self, idx: torch.Tensor, gen: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """The collated samples `idx` (`(B,)` int64): augmented when `gen` is given and the dataset
        trains with augmentation, else the exact centre crops.

        Returns the `PoseTrackClips` dict with a leading batch dimension: frames `(B, 3, 3, H, W)`,
        heatmaps `(B, 3, K, H/s, W/s)`, target_weight `(B, 3, K)`, keypoints `(B, 3, K, 3)`, affine
        `(B, 2, 3)`, image_id, video, track_id `(B,)` int64, score `(B,)`.
        """
        ds = self.ds
        h, w = ds.input_size
        b = idx.numel()
        center, ps = self.center[idx], self.pixel_size[idx]
        crops = self._crops(idx)  # (B, 3, Hc, Wc, 3) uint8
        augment = gen is not None and ds.train
        if augment:
            flip, scale, rot = self.draw_augmentation(b, gen)
            to_image = crop_affines(center, ps * scale, (h, w), rot, flip)  # input px -> image px
            cache_to_image = crop_affines(center, ps, (self.hc, self.wc))
            to_cache = compose_affines(invert_affines(cache_to_image), to_image)  # input px -> cache px
            frames = self._warp(crops, to_cache, (h, w))
        else:
            flip = torch.zeros(b, dtype=torch.bool)
            to_image = crop_affines(center, ps, (h, w))
            top, left = (self.hc - h) // 2, (self.wc - w) // 2  # the centre of the cache: an exact slice
            frames = crops[:, :, top:top + h, left:left + w].permute(0, 1, 4, 2, 3).reshape(b * 3, 3, h, w).float()
        frames = ((frames - self._mean) / self._std).view(b, 3, 3, h, w)

        # Keypoints: image pixels -> input pixels; a flipped person's left joints are the right ones.
        kp = self.keypoints[idx].clone()  # (B, 3, K, 3) float64
        from_image = invert_affines(to_image)
        xy = kp[..., :2] @ from_image[:, None, :, :2].transpose(-1, -2) + from_image[:, None, None, :, 2]
        kp[..., :2] = xy
        if flip.any():
            kp[flip] = kp[flip][:, :, self._flip]
        labelled = kp[..., 2] > 0
        kp[..., :2] = torch.where(labelled[..., None], kp[..., :2], torch.zeros_like(kp[..., :2]))
        heatmaps, weights = self._targets(kp)
        return {
            "frames": frames,
            "heatmaps": heatmaps.to(self.device),
            "target_weight": weights.to(self.device),
            "keypoints": kp.float().to(self.device),
            "affine": to_image.float().to(self.device),
            "image_id": self.image_id[idx], "video": self.video[idx], "track_id": self.track_id[idx],
            "score": self.score[idx],
        }

    def in_order(self, batch_size: int):
        """Every sample once, in dataset order, without augmentation: batches of `batch_size`."""
        for first in range(0, len(self), batch_size):
            yield self.batch(torch.arange(first, min(len(self), first + batch_size)))

    def _warp(self, crops: torch.Tensor, to_cache: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
        """Bilinear resampling of `(B, 3, Hc, Wc, 3)` uint8 crops into `(3B, 3, H, W)` float (0..255),
        black outside, with `to_cache` `(B, 2, 3)` mapping output pixels to cache pixels."""
        b = crops.shape[0]
        h, w = out_size
        hc, wc = self.hc, self.wc
        # grid_sample (align_corners=True) reads normalised coordinates: pixel centre i <-> 2i/(n-1) - 1.
        denorm_out = torch.tensor([[(w - 1) / 2.0, 0, (w - 1) / 2.0], [0, (h - 1) / 2.0, (h - 1) / 2.0]],
                                  dtype=torch.float64)
        norm_cache = torch.tensor([[2.0 / (wc - 1), 0, -1.0], [0, 2.0 / (hc - 1), -1.0]], dtype=torch.float64)
        theta = compose_affines(norm_cache.expand(b, 2, 3), compose_affines(to_cache, denorm_out.expand(b, 2, 3)))
        theta = theta.repeat_interleave(3, 0).float().to(self.device)  # the three frames share one warp
        src = crops.permute(0, 1, 4, 2, 3).reshape(b * 3, 3, hc, wc).float()
        grid = F.affine_grid(theta, [b * 3, 3, h, w], align_corners=True)
        return F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=True)

    def _targets(self, kp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gaussian heatmaps `(B, 3, K, h, w)` and weights `(B, 3, K)` as `geometry.gaussian_heatmaps`."""
        h, w = self.ds.input_size
        s = self.ds.stride
        hh, ww = h // s, w // s
        mu = kp[..., :2] / s  # (B, 3, K, 2) heatmap coordinates
        inside = (mu[..., 0] >= -0.5) & (mu[..., 0] < ww - 0.5) & (mu[..., 1] >= -0.5) & (mu[..., 1] < hh - 0.5)
        weight = ((kp[..., 2] > 0) & inside).float()
        xs = torch.arange(ww, dtype=torch.float64)
        ys = torch.arange(hh, dtype=torch.float64)
        sig2 = 2 * self.ds.sigma**2
        gx = torch.exp(-(xs - mu[..., 0:1]) ** 2 / sig2)  # (B, 3, K, w)
        gy = torch.exp(-(ys - mu[..., 1:2]) ** 2 / sig2)  # (B, 3, K, h)
        hm = (gy[..., :, None] * gx[..., None, :]).float() * weight[..., None, None]
        return hm, weight


__all__ = ["ClipBatches", "compose_affines", "crop_affines", "invert_affines"]
