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

from tipsd.model.data.keypoints import STRIDE  # heatmap pixel (j, i) <-> input-crop pixel (4j, 4i)


def decode_heatmaps(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Peak locations of `(B, K, h, w)` heatmaps.

    Returns:
        xy `(B, K, 2)` in heatmap pixels (argmax shifted a quarter pixel towards the larger neighbour
        on each axis) and the peak values `(B, K)` (used as joint scores).
    """
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


def to_image_coords(xy_heatmap: torch.Tensor, affine: torch.Tensor, stride: int = STRIDE) -> torch.Tensor:
    """Map `(B, K, 2)` heatmap coordinates to original-image pixels with `affine` `(B, 2, 3)`."""
    xy_in = xy_heatmap * stride  # (B, K, 2) input-crop pixels
    ones = torch.ones_like(xy_in[..., :1])
    return torch.cat([xy_in, ones], -1) @ affine.transpose(1, 2).to(xy_in.dtype)  # (B, K, 2)


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
