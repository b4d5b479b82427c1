"""From heatmaps to PoseTrack18 predictions in original-image coordinates.

`decode_heatmaps` is the usual HRNet decoder (argmax, then a quarter-pixel shift towards the higher
neighbour); `to_image_coords` applies each sample's crop-to-image `affine`; `build_predictions` turns
per-person results into `{video_name: PoseTrack18 dict}` ready for `tipsd.model.eval.evaluate`
(the validation pass that calls them is `tipsd.model.train.validate`).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

import torch
import torch.nn.functional as F

from tipsd.model.data.keypoints import STRIDE  # heatmap pixel (j, i) <-> input-crop pixel (4j, 4i)


def decode_heatmaps(heatmaps: torch.Tensor, method: str = "argmax") -> tuple[torch.Tensor, torch.Tensor]:
    """Peak locations of `(B, K, h, w)` heatmaps.

    Args:
        heatmaps: `(B, K, h, w)`.
        method: "argmax" (HRNet: argmax shifted a quarter pixel towards the larger neighbour on each
            axis) or "dark" (DARK, Zhang et al. CVPR 2020: the argmax refined by one Newton step
            on the log of the Gaussian-smoothed heatmap, `dark_refine`).

    Returns:
        xy `(B, K, 2)` in heatmap pixels and the peak values `(B, K)` (used as joint scores).

    Raises:
        ValueError: an unknown `method`.
    """
    if method == "dark":
        return dark_refine(heatmaps)
    if method != "argmax":
        raise ValueError(f"decode method {method!r} is not one of argmax, dark")
    b, k, h, w = heatmaps.shape
    flat = heatmaps.float().flatten(2)  # (B, K, h*w)
    maxval, idx = flat.max(-1)
    x, y = (idx % w), torch.div(idx, w, rounding_mode="floor")
    hm = heatmaps.float()
    bi = torch.arange(b, device=hm.device)[:, None].expand(b, k)
    ki = torch.arange(k, device=hm.device)[None, :].expand(b, k)

    def at(yy: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
        return hm[bi, ki, yy.clamp(0, h - 1), xx.clamp(0, w - 1)]

    # Only shift when both neighbours exist (HRNet's get_final_preds also skips index 1: `1 < px`).
    dx = torch.sign(at(y, x + 1) - at(y, x - 1)) * 0.25 * ((x > 0) & (x < w - 1))
    dy = torch.sign(at(y + 1, x) - at(y - 1, x)) * 0.25 * ((y > 0) & (y < h - 1))
    xy = torch.stack([x.float() + dx, y.float() + dy], -1)
    return xy, maxval


def dark_refine(heatmaps: torch.Tensor, kernel: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """DARK decoding (Zhang et al., "Distribution-Aware Coordinate Representation", CVPR 2020).

    The heatmap is smoothed by a Gaussian (`kernel` x `kernel`, sigma from the kernel as DARK's
    reference code), clamped to (1e-10, inf) and logged; at the argmax m the sub-pixel maximum is
    `m - H^-1 g`, with g and H the central-difference gradient and Hessian of the log map. Where H is
    not negative definite or the step leaves the pixel's +-1 neighbourhood, the argmax stays; on the
    heatmap's border the border axis keeps the integer argmax.

    Args:
        heatmaps: `(B, K, h, w)`.
        kernel: odd size of the smoothing kernel (DARK uses 11 at stride 4 on 64x48 maps; the
            small maps here want 3).

    Returns:
        xy `(B, K, 2)` in heatmap pixels, and the raw peak values `(B, K)`.
    """
    b, k, h, w = heatmaps.shape
    hm = heatmaps.float()
    maxval, idx = hm.flatten(2).max(-1)
    sigma = 0.3 * ((kernel - 1) * 0.5 - 1) + 0.8  # OpenCV's default for GaussianBlur(sigma=0)
    r = torch.arange(kernel, dtype=hm.dtype) - kernel // 2
    g1 = torch.exp(-r**2 / (2 * sigma**2))
    g1 = g1 / g1.sum()
    flat = hm.reshape(b * k, 1, h, w)
    pad = kernel // 2
    sm = F.conv2d(F.pad(flat, (pad, pad, 0, 0), mode="replicate"), g1.view(1, 1, 1, -1))
    sm = F.conv2d(F.pad(sm, (0, 0, pad, pad), mode="replicate"), g1.view(1, 1, -1, 1))
    # keep the original peak height (DARK rescales the blurred map to the original maximum)
    peak = sm.flatten(1).max(-1).values.clamp_min(1e-10).view(-1, 1, 1, 1)
    sm = sm * (maxval.reshape(-1, 1, 1, 1).clamp_min(1e-10) / peak)
    logm = F.pad(sm.clamp_min(1e-10).log(), (1, 1, 1, 1), mode="replicate").view(b, k, h + 2, w + 2)
    x, y = idx % w, torch.div(idx, w, rounding_mode="floor")
    bi = torch.arange(b)[:, None].expand(b, k)
    ki = torch.arange(k)[None, :].expand(b, k)

    def at(dy: int, dx: int) -> torch.Tensor:  # the log map around the argmax (padded: +1)
        return logm[bi, ki, y + 1 + dy, x + 1 + dx]

    c = at(0, 0)
    dx = 0.5 * (at(0, 1) - at(0, -1))
    dy = 0.5 * (at(1, 0) - at(-1, 0))
    dxx = at(0, 1) - 2 * c + at(0, -1)
    dyy = at(1, 0) - 2 * c + at(-1, 0)
    dxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    # Interior in both axes: the 2-D Newton step. On a border (no neighbour on one side) the border
    # axis keeps the integer argmax and the other axis takes the 1-D step.
    in_x, in_y = (x > 0) & (x < w - 1), (y > 0) & (y < h - 1)
    det = dxx * dyy - dxy**2
    both = in_x & in_y & (det > 1e-12) & (dxx < 0)  # a maximum: negative-definite Hessian
    safe = torch.where(both, det, torch.ones_like(det))
    ox2, oy2 = -(dyy * dx - dxy * dy) / safe, -(dxx * dy - dxy * dx) / safe
    ox1 = -dx / torch.where(dxx < 0, dxx, -torch.ones_like(dxx))
    oy1 = -dy / torch.where(dyy < 0, dyy, -torch.ones_like(dyy))
    ox = torch.where(both, ox2, torch.where(in_x & (dxx < 0), ox1, torch.zeros_like(ox1)))
    oy = torch.where(both, oy2, torch.where(in_y & (dyy < 0), oy1, torch.zeros_like(oy1)))
    # A step beyond the pixel's neighbourhood means the log map is not locally quadratic: keep the argmax.
    ox = torch.where(ox.abs() <= 1, ox, torch.zeros_like(ox))
    oy = torch.where(oy.abs() <= 1, oy, torch.zeros_like(oy))
    xy = torch.stack([x.to(hm.dtype) + ox, y.to(hm.dtype) + oy], -1)
    return xy, maxval


def to_image_coords(xy_heatmap: torch.Tensor, affine: torch.Tensor, stride: int = STRIDE) -> torch.Tensor:
    """Map `(B, K, 2)` heatmap coordinates to original-image pixels with `affine` `(B, 2, 3)`."""
    xy_in = xy_heatmap * stride  # (B, K, 2) input-crop pixels
    ones = torch.ones_like(xy_in[..., :1])
    return torch.cat([xy_in, ones], -1) @ affine.transpose(1, 2).to(xy_in.dtype)  # (B, K, 2)


@torch.no_grad()
def predict_samples(net: torch.nn.Module, loader: Iterable[dict], device: torch.device, amp: bool = False,
                    decode: str = "argmax") -> dict[str, Any]:
    """The key-frame estimate of every sample `loader` yields, in original-image pixels.

    Args:
        net: a `TIPSDNet` (its mode is restored afterwards).
        loader: collated batches (`frames` `(B, 3, 3, H, W)`, `affine`, `image_id`, `track_id`, `video`).
        device: where the network runs. amp: bf16 autocast (CUDA). decode: see `decode_heatmaps`.

    Returns:
        ``{"image_id", "track_id", "video": lists of int, "xy": (N, K, 2) image pixels, "score": (N, K) in [0, 1]}``.
    """
    was_training = net.training
    net.eval()
    ids, tracks, vids, xys, scores = [], [], [], [], []
    for batch in loader:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out = net(batch["frames"].to(device, non_blocking=True))
        heatmaps = out.heatmaps.float().cpu()  # (B, K, H/s, W/s)
        xy_hm, maxval = decode_heatmaps(heatmaps, decode)  # (B, K, 2), (B, K)
        stride = batch["frames"].shape[-2] // heatmaps.shape[-2]
        xys.append(to_image_coords(xy_hm, batch["affine"].cpu(), stride))
        scores.append(maxval.clamp(0, 1))
        ids += batch["image_id"].tolist()
        tracks += batch["track_id"].tolist()
        vids += batch["video"].tolist()
    net.train(was_training)
    return {"image_id": ids, "track_id": tracks, "video": vids, "xy": torch.cat(xys), "score": torch.cat(scores)}


def build_predictions(
    image_ids: Iterable[int], track_ids: Iterable[int], xy: torch.Tensor, scores: torch.Tensor,
    videos: Iterable[str],
) -> dict[str, dict[str, Any]]:
    """PoseTrack18 prediction dicts `{video: {"annotations": [...]}}` from per-person arrays.

    Args:
        image_ids, track_ids: one per person.
        xy: `(P, K, 2)` image pixels. scores: `(P, K)` joint scores.
        videos: the video name of each person (image ids need not be unique across videos).
    """
    out: dict[str, dict[str, Any]] = defaultdict(lambda: {"annotations": []})
    for image_id, track_id, pts, sc, video in zip(image_ids, track_ids, xy.tolist(), scores.tolist(), videos):
        kpts = [v for (x, y), s in zip(pts, sc) for v in (x, y, s)]
        out[video]["annotations"].append({
            "image_id": int(image_id), "track_id": int(track_id), "keypoints": kpts,
            "scores": [float(s) for s in sc], "score": float(sum(sc) / len(sc)),
        })
    return dict(out)
