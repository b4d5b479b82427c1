"""Crop geometry: boxes to crop affines, image warping, Gaussian heatmap targets.

Coordinate convention (as in OpenCV and HRNet): pixel i of an image has its centre at coordinate i.
An affine is a float (2, 3) matrix ``A`` mapping a point ``p`` of one frame to ``A @ [x, y, 1]`` in
another. Crop affines map *output (crop) pixels to source (image) pixels*, which is what warping
needs and what `PoseTrackClips` returns as ``affine``.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

from tipsd.model.data.keypoints import STRIDE

BOX_ENLARGE = 1.25  # top-down boxes are enlarged by this factor around their centre


def box_center_size(bbox, aspect: float, enlarge: float = BOX_ENLARGE) -> tuple[float, float, float, float]:
    """Centre and size of a person box padded to the crop aspect ratio and enlarged.

    Args:
        bbox: ``[x, y, w, h]`` in image pixels (PoseTrack18 ``bbox``).
        aspect: crop width / crop height (e.g. 96 / 128).
        enlarge: factor applied to both sides after the aspect fix.

    Returns:
        ``(cx, cy, w, h)`` with ``w / h == aspect``.

    Example:
        >>> box_center_size([0, 0, 30, 40], 0.75, 1.0)
        (15.0, 20.0, 30.0, 40.0)
    """
    x, y, w, h = (float(v) for v in bbox)
    cx, cy = x + w / 2.0, y + h / 2.0
    w, h = max(w, 1.0), max(h, 1.0)
    if w > aspect * h:  # too wide: grow the height
        h = w / aspect
    else:
        w = h * aspect
    return cx, cy, w * enlarge, h * enlarge


def crop_affine(center: tuple[float, float], pixel_size: float, out_size: tuple[int, int],
                *, rot_deg: float = 0.0, flip: bool = False) -> np.ndarray:
    """Affine from crop pixels to image pixels.

    The crop centre ``((W-1)/2, (H-1)/2)`` maps to ``center``; one crop pixel spans ``pixel_size``
    image pixels; the crop content is rotated by ``rot_deg`` (clockwise as displayed, y pointing
    down: at 90 the image's up is the crop's right) and, if ``flip``, mirrored left-right.

    Args:
        center: ``(cx, cy)`` in image pixels.
        pixel_size: image pixels per crop pixel (box width / crop width).
        out_size: crop ``(H, W)``.
        rot_deg: rotation of the content in degrees (clockwise as displayed).
        flip: mirror the crop horizontally.

    Returns:
        float64 ``(2, 3)``.

    Example:
        >>> crop_affine((10.0, 20.0), 2.0, (5, 3)) @ [1, 2, 1]
        array([10., 20.])
    """
    h, w = out_size
    t = math.radians(rot_deg)
    # crop -> image: image = center + pixel_size * R(-t) @ F @ (p - crop_centre)
    cos, sin = math.cos(t), math.sin(t)
    rot = np.array([[cos, sin], [-sin, cos]])
    fl = np.diag([-1.0 if flip else 1.0, 1.0])
    lin = pixel_size * rot @ fl
    offset = np.array(center, dtype=np.float64) - lin @ np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    return np.concatenate([lin, offset[:, None]], axis=1)


def invert_affine(a: np.ndarray) -> np.ndarray:
    """Inverse of a ``(2, 3)`` affine."""
    m = np.vstack([np.asarray(a, dtype=np.float64), [0.0, 0.0, 1.0]])
    return np.linalg.inv(m)[:2]


def compose_affine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a ∘ b`` (apply ``b`` first), both ``(2, 3)``."""
    ma = np.vstack([a, [0.0, 0.0, 1.0]])
    mb = np.vstack([b, [0.0, 0.0, 1.0]])
    return (ma @ mb)[:2]


def apply_affine(a: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Map points ``(..., 2)`` through the affine ``a``; returns the same shape."""
    pts = np.asarray(pts, dtype=np.float64)
    return pts @ a[:, :2].T + a[:, 2]


def warp(image: np.ndarray | Image.Image, out_to_src: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
    """Resample ``image`` into an ``out_size`` crop (bilinear, black outside the image).

    Args:
        image: uint8 ``(h, w, 3)`` array or a PIL image.
        out_to_src: ``(2, 3)`` affine from output pixels to source pixels.
        out_size: ``(H, W)``.

    Returns:
        uint8 ``(H, W, 3)``.
    """
    pil = image if isinstance(image, Image.Image) else Image.fromarray(image)
    # PIL maps pixel *areas* (centre of pixel i at i + 0.5): conjugate by a half-pixel shift.
    m = np.vstack([out_to_src, [0.0, 0.0, 1.0]])
    shift_in = np.array([[1.0, 0, 0.5], [0, 1.0, 0.5], [0, 0, 1.0]])
    shift_out = np.array([[1.0, 0, -0.5], [0, 1.0, -0.5], [0, 0, 1.0]])
    p = (shift_in @ m @ shift_out)[:2].flatten()
    h, w = out_size
    out = pil.transform((w, h), Image.Transform.AFFINE, tuple(float(v) for v in p),
                        resample=Image.Resampling.BILINEAR, fillcolor=(0, 0, 0))
    return np.asarray(out.convert("RGB"))


def gaussian_heatmaps(keypoints: np.ndarray, heatmap_size: tuple[int, int], sigma: float,
                      stride: int = STRIDE) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian heatmap targets and per-joint weights.

    A joint at input-crop pixel ``(x, y)`` peaks at heatmap coordinate ``(x / stride, y / stride)``
    (sub-pixel exact, peak value 1 at the true location). Its weight is 0 when the joint is
    unlabelled (``v <= 0``) or its peak falls outside the heatmap (more than half a pixel off).

    Args:
        keypoints: ``(K, 3)`` x, y (input-crop pixels), v.
        heatmap_size: ``(h, w)`` of the heatmap.
        sigma: standard deviation in heatmap pixels.
        stride: input pixels per heatmap pixel.

    Returns:
        heatmaps float32 ``(K, h, w)``, weights float32 ``(K,)``.

    Example:
        >>> hm, w = gaussian_heatmaps(np.array([[8.0, 4.0, 1.0]]), (4, 4), 1.0)
        >>> float(hm[0, 1, 2]), float(w[0])
        (1.0, 1.0)
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    h, w = heatmap_size
    mu = kp[:, :2] / stride  # (K, 2) heatmap coordinates
    inside = (mu[:, 0] >= -0.5) & (mu[:, 0] < w - 0.5) & (mu[:, 1] >= -0.5) & (mu[:, 1] < h - 0.5)
    weight = ((kp[:, 2] > 0) & inside).astype(np.float32)
    xs = np.arange(w, dtype=np.float64)
    ys = np.arange(h, dtype=np.float64)
    gx = np.exp(-((xs[None, :] - mu[:, 0:1]) ** 2) / (2 * sigma**2))  # (K, w)
    gy = np.exp(-((ys[None, :] - mu[:, 1:2]) ** 2) / (2 * sigma**2))  # (K, h)
    hm = gy[:, :, None] * gx[:, None, :]  # (K, h, w): separable Gaussian
    hm *= weight[:, None, None]
    return hm.astype(np.float32), weight


__all__ = [
    "BOX_ENLARGE", "apply_affine", "box_center_size", "compose_affine", "crop_affine",
    "gaussian_heatmaps", "invert_affine", "warp",
]
