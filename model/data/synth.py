"""Synthetic PoseTrack18-format video dataset: rendering, degradations, writing to disk.

Each video has a cluttered background seen through a panning/zooming camera, 1-3 articulated people
who overlap, and per-frame degradations of the kind that make temporal context matter: heavy motion
blur from sub-frame integration (long exposure + camera shake), passing occluders that cover a limb
for one or two frames, and defocus. Degradations are drawn per frame, so a degraded key frame
usually has clean neighbours. Everything is drawn from ``numpy.random.default_rng([seed, split,
video])``: the same seed gives the same bytes.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from tipsd.model.data.keypoints import FLIP_PAIRS, KEYPOINT_NAMES, UNLABELLED_SLOTS
from tipsd.model.data.synth_motion import LIMBS, Person, pose, random_person
from tipsd.model.errors import DataError
from tipsd.model.posetrack18 import CATEGORIES

GENERATOR_VERSION = 2  # bump when the output changes, so cached datasets are regenerated


@dataclass(frozen=True)
class SynthPreset:
    """Size of a synthetic dataset."""

    frame_size: tuple[int, int]  # (H, W) of every frame
    train_videos: int
    val_videos: int
    frames: int  # frames per video
    val_label_every: int = 2  # val labels every n-th frame (PoseTrack labels every 4th)
    jpeg_quality: int = 90


SYNTH_PRESETS: dict[str, SynthPreset] = {
    "tiny": SynthPreset((96, 128), train_videos=4, val_videos=2, frames=12),  # tests: seconds
    # CPU default. 12 val videos (480 labelled people): at ~20 % mAP fewer made the val noise as large
    # as the effects being measured.
    "quick": SynthPreset((192, 256), train_videos=20, val_videos=12, frames=40),
    # GPU. Sized so its crop cache at 384x288 (x1.25 margin, 3 frames: 1.55 MB a sample) stays ~4 GB.
    "paper": SynthPreset((480, 640), train_videos=24, val_videos=8, frames=50),
}

# Probability that a frame is degraded by each effect (independent per frame).
P_SHAKE_BLUR = 0.22  # long exposure with camera shake: everything smeared
P_DEFOCUS = 0.15  # Gaussian defocus
P_NOISE = 0.15  # sensor noise / low light
OCCLUDER_EVERY = 10  # one passing occluder per this many frames, on average


def _background(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """A cluttered background: gradient, shapes, limb-like bars and texture. ``size`` = (H, W)."""
    h, w = size
    top, bottom = rng.integers(40, 220, 3), rng.integers(20, 200, 3)
    ramp = np.linspace(0, 1, h)[:, None, None]
    arr = (top * (1 - ramp) + bottom * ramp) * np.ones((1, w, 1))
    img = Image.fromarray(arr.astype(np.uint8))
    draw = ImageDraw.Draw(img)
    scale = h / 200.0
    for _ in range(int(40 * (h * w) / (300 * 400))):
        kind = rng.integers(3)
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        s = rng.uniform(5, 45) * scale
        fill = tuple(int(c) for c in rng.integers(0, 255, 3))
        if kind == 0:
            draw.rectangle([x, y, x + s * rng.uniform(0.5, 2), y + s * rng.uniform(0.5, 2)], fill=fill)
        elif kind == 1:
            draw.ellipse([x, y, x + s, y + s * rng.uniform(0.5, 1.5)], fill=fill)
        else:  # limb-like bars: distractors the network must learn to ignore
            ang = rng.uniform(0, math.pi)
            draw.line([x, y, x + 2 * s * math.cos(ang), y + 2 * s * math.sin(ang)], fill=fill,
                      width=max(1, int(rng.uniform(2, 8) * scale)))
    noise = rng.normal(0, 8, (h, w, 3))
    return Image.fromarray(np.clip(np.asarray(img, dtype=np.float64) + noise, 0, 255).astype(np.uint8))


def _shade(color: tuple[int, int, int], side: str) -> tuple[int, int, int]:
    """Left limbs lighter, right limbs darker: the cue that tells the two sides apart."""
    c = np.array(color, dtype=np.float64)
    c = c + 0.4 * (255 - c) if side == "l" else c * 0.55
    return tuple(int(v) for v in c)


def _draw_person(draw: ImageDraw.ImageDraw, p: Person, joints: np.ndarray, zoom: float) -> None:
    """Draw one person (joints already in frame pixels): legs, torso, arms, head."""
    h = p.height * zoom
    colors = {"shirt": p.shirt, "pants": p.pants, "skin": p.skin}
    for a, b, width, part, side in LIMBS[:4]:
        _capsule(draw, joints[a], joints[b], width * h, _shade(colors[part], side))
    torso = [tuple(joints[i]) for i in (5, 6, 12, 11)]
    draw.polygon(torso, fill=p.shirt)
    for a, b, width, part, side in LIMBS[4:]:
        _capsule(draw, joints[a], joints[b], width * h, _shade(colors[part], side))
    hb, ht = joints[1], joints[2]
    c, r = (hb + ht) / 2, 0.5 * np.linalg.norm(ht - hb)
    draw.ellipse([c[0] - 0.75 * r, c[1] - r, c[0] + 0.75 * r, c[1] + r], fill=p.skin)
    n, d = joints[0], max(1.0, 0.025 * h)
    draw.ellipse([n[0] - d, n[1] - d, n[0] + d, n[1] + d], fill=_shade(p.skin, "r"))
    for slot, side in ((3, "l"), (4, "r")):  # ear marks also tell left from right
        e = joints[slot]
        draw.ellipse([e[0] - d, e[1] - d, e[0] + d, e[1] + d], fill=_shade(p.shirt, side))


def _capsule(draw: ImageDraw.ImageDraw, a: np.ndarray, b: np.ndarray, width: float, fill) -> None:
    w = max(1, int(round(width)))
    draw.line([tuple(a), tuple(b)], fill=fill, width=w)
    r = w / 2
    for q in (a, b):
        draw.ellipse([q[0] - r, q[1] - r, q[0] + r, q[1] + r], fill=fill)


@dataclass
class _Video:
    """Everything drawn once per video; `_render` turns it into frames."""

    bg: Image.Image
    people: list[Person]
    cam: np.ndarray  # (T, 3): camera centre x, y (world) and zoom per frame
    shake: np.ndarray  # (T,) bool: long-exposure shake blur
    defocus: np.ndarray  # (T,) float: blur radius (0 = sharp)
    noise: np.ndarray  # (T,) float: noise std (0 = none)
    occluders: list[dict]  # passing occluders: start frame, y, speed, size, colour
    crowd: list[float] | None  # world box [x0, y0, x1, y1] of an unlabelled crowd (ignore region)


def _camera(rng: np.random.Generator, t: float, params: np.ndarray) -> np.ndarray:
    cx0, cy0, ax, fx, px, az, fz, pz = params
    return np.array([cx0 + ax * math.sin(fx * t + px), cy0, 1.0 + az * math.sin(fz * t + pz)])


def _plan_video(rng: np.random.Generator, preset: SynthPreset) -> tuple[_Video, np.ndarray]:
    h, w = preset.frame_size
    bh, bw = int(h * 1.6), int(w * 1.6)
    bg = _background(rng, (bh, bw))
    n_people = int(rng.choice([1, 2, 3], p=[0.3, 0.4, 0.3]))
    cx = bw / 2
    people = []
    for k in range(n_people):
        height = h * rng.uniform(0.55, 0.85)
        # Spread people by less than a body width so they overlap.
        x0 = cx + (k - (n_people - 1) / 2) * height * rng.uniform(0.25, 0.5) + rng.normal(0, 0.05 * w)
        y0 = bh / 2 + height * 0.05 + rng.normal(0, 0.03 * h)
        people.append(random_person(rng, height, x0, y0))
    people.sort(key=lambda p: p.height)  # smaller = farther: drawn first
    cam_params = np.array([cx, bh / 2, rng.uniform(0, 0.08) * w, rng.uniform(0.03, 0.12), rng.uniform(0, 6),
                           rng.uniform(0, 0.12), rng.uniform(0.03, 0.1), rng.uniform(0, 6)])
    t_n = preset.frames
    cam = np.stack([_camera(rng, t, cam_params) for t in range(t_n)])
    shake = rng.random(t_n) < P_SHAKE_BLUR
    defocus = np.where(rng.random(t_n) < P_DEFOCUS, rng.uniform(2.0, 4.0, t_n) * h / 192, 0.0)
    noise = np.where(rng.random(t_n) < P_NOISE, rng.uniform(12, 30, t_n), 0.0)
    occluders = []
    for _ in range(rng.poisson(t_n / OCCLUDER_EVERY)):
        target = people[int(rng.integers(len(people)))]
        size = target.height * rng.uniform(0.25, 0.4)
        # Fast enough to cover a given limb for about one frame: neighbours see it uncovered.
        occluders.append(dict(start=float(rng.uniform(-3, t_n)), y=float(rng.uniform(-0.35, 0.4) * target.height),
                              speed=float(size * rng.uniform(0.8, 1.2)), size=float(size),
                              dir=int(rng.choice([-1, 1])), color=tuple(int(c) for c in rng.integers(0, 255, 3)),
                              round=bool(rng.random() < 0.5), target=people.index(target)))
    crowd = None
    if rng.random() < 0.6:  # a group of small unlabelled figures: PoseTrack's ignore regions
        x0, y0 = rng.uniform(0.1, 0.7) * bw, rng.uniform(0.25, 0.45) * bh
        crowd = [x0, y0, x0 + 0.2 * w, y0 + 0.18 * h]
        draw = ImageDraw.Draw(bg)
        for i in range(3):
            small = random_person(rng, 0.16 * h, x0 + (i + 0.5) * 0.066 * w, y0 + 0.1 * h)
            _draw_person(draw, small, pose(small, 0.0), 1.0)
    return _Video(bg, people, cam, shake, defocus, noise, occluders, crowd), cam


def _render_at(v: _Video, t: float, cam: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """Draw the scene at time ``t`` seen by camera ``cam`` = (x, y, zoom)."""
    h, w = size
    cx, cy, zoom = cam
    # frame pixel p -> world: cam + (p - frame_centre) / zoom
    inv = (1 / zoom, 0.0, cx - (w / 2) / zoom, 0.0, 1 / zoom, cy - (h / 2) / zoom)
    img = v.bg.transform((w, h), Image.Transform.AFFINE, inv, resample=Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(img)
    for p in v.people:
        _draw_person(draw, p, _to_frame(pose(p, t), cam, size), zoom)
    for o in v.occluders:
        target = v.people[o["target"]]
        x = (t - o["start"]) * o["speed"] - o["size"]
        x = x if o["dir"] > 0 else w - x
        y = _to_frame(pose(target, t)[11:12], cam, size)[0, 1] - 0.2 * target.height * zoom + o["y"] * zoom
        s = o["size"] * zoom
        box = [x - s / 2, y - s, x + s / 2, y + s]
        (draw.ellipse if o["round"] else draw.rectangle)(box, fill=o["color"])
    return img


def _to_frame(world: np.ndarray, cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    return (world - cam[:2]) * cam[2] + np.array([w / 2, h / 2])


def _render_frame(v: _Video, t: int, size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """One frame: sub-frame integration (long + shaken on blur frames), then defocus and noise."""
    cam = v.cam[t]
    if v.shake[t]:
        offsets = np.linspace(-1.2, 1.2, 9)  # a long exposure spanning the neighbours
        shake = rng.normal(0, 0.025 * size[0], (len(offsets), 2))
    else:
        offsets = np.linspace(-0.25, 0.25, 3)  # normal exposure: fast limbs smear a little
        shake = np.zeros((len(offsets), 2))
    acc = np.zeros((size[0], size[1], 3), dtype=np.float64)
    for dt, sh in zip(offsets, shake):
        c = cam.copy()
        c[:2] += sh
        acc += np.asarray(_render_at(v, t + dt, c, size), dtype=np.float64)
    acc /= len(offsets)
    if v.noise[t] > 0:
        acc = acc * 0.6 + rng.normal(0, v.noise[t], acc.shape)  # low light: darker and noisy
    img = Image.fromarray(np.clip(acc, 0, 255).astype(np.uint8))
    if v.defocus[t] > 0:
        img = img.filter(ImageFilter.GaussianBlur(float(v.defocus[t])))
    return img


def _annotations(v: _Video, t: int, size: tuple[int, int], image_id: int) -> list[dict]:
    """PoseTrack18 annotations of frame ``t``: joints outside the frame are unlabelled (0, 0, 0)."""
    h, w = size
    out = []
    for track, p in enumerate(v.people):
        joints = _to_frame(pose(p, float(t)), v.cam[t], size)
        inside = (joints[:, 0] >= 0) & (joints[:, 0] <= w - 1) & (joints[:, 1] >= 0) & (joints[:, 1] <= h - 1)
        inside[list(UNLABELLED_SLOTS)] = False
        if inside.sum() == 0:
            continue  # the person has left the view: the track has a gap here
        kp = np.zeros((len(KEYPOINT_NAMES), 3))
        kp[inside, :2] = joints[inside]
        kp[inside, 2] = 1
        vis = joints[inside]
        lo, hi = vis.min(0), vis.max(0)
        pad = 0.1 * (hi - lo) + 0.04 * p.height * v.cam[t, 2]
        lo, hi = np.maximum(lo - pad, 0), np.minimum(hi + pad, [w - 1, h - 1])
        hb, ht = joints[1], joints[2]
        hh = float(np.linalg.norm(ht - hb))
        mid = (hb + ht) / 2
        out.append(dict(
            id=image_id * 100 + track, image_id=image_id, track_id=track, category_id=1,
            bbox=[round(float(v_), 2) for v_ in (lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1])],
            bbox_head=[round(float(v_), 2) for v_ in (mid[0] - 0.425 * hh, mid[1] - 0.5 * hh, 0.85 * hh, hh)],
            keypoints=[round(float(x), 2) for x in kp.flatten()],
        ))
    return out


def _ignore_region(v: _Video, t: int, size: tuple[int, int]) -> tuple[list, list]:
    if v.crowd is None:
        return [], []
    x0, y0, x1, y1 = v.crowd
    corners = _to_frame(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), v.cam[t], size)
    h, w = size
    corners = np.clip(corners, 0, [w - 1, h - 1])
    if np.ptp(corners[:, 0]) < 1 or np.ptp(corners[:, 1]) < 1:
        return [], []
    return [[round(float(x), 1) for x in corners[:, 0]]], [[round(float(y), 1) for y in corners[:, 1]]]


def write_video(root: Path, split: str, index: int, preset: SynthPreset, seed: int) -> None:
    """Render one video and write its frames and PoseTrack18 JSON under ``root``."""
    rng = np.random.default_rng([seed, 0 if split == "train" else 1, index])
    v, _ = _plan_video(rng, preset)
    vid_num = (1 if split == "train" else 2) * 10000 + index
    name = f"{vid_num:06d}_synth_{split}"
    img_dir = root / "images" / split / name
    img_dir.mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for t in range(preset.frames):
        image_id = int(f"1{vid_num:06d}{t:04d}")
        labelled = split == "train" or t % preset.val_label_every == 0
        file_name = f"images/{split}/{name}/{t:06d}.jpg"
        _render_frame(v, t, preset.frame_size, rng).save(root / file_name, quality=preset.jpeg_quality)
        rx, ry = _ignore_region(v, t, preset.frame_size) if labelled else ([], [])
        images.append(dict(id=image_id, vid_id=f"{vid_num:06d}", frame_id=image_id, file_name=file_name,
                           is_labeled=labelled, nframes=preset.frames, ignore_regions_x=rx, ignore_regions_y=ry))
        if labelled:
            anns.extend(_annotations(v, t, preset.frame_size, image_id))
    ann_dir = root / "annotations" / split
    ann_dir.mkdir(parents=True, exist_ok=True)
    doc = dict(images=images, annotations=anns, categories=CATEGORIES)
    (ann_dir / f"{name}.json").write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")


def generate_dataset(out_dir: str | Path, preset: str = "quick", seed: int = 0) -> Path:
    """Write a synthetic PoseTrack18-format dataset (train and val splits) to ``out_dir``.

    Args:
        out_dir: target folder (created; existing files of the same names are overwritten).
        preset: one of `SYNTH_PRESETS` ("tiny", "quick", "paper").
        seed: the same seed gives byte-identical images and JSON.

    Returns:
        ``out_dir`` as a Path.

    Example:
        >>> generate_dataset("/tmp/synth-tiny", "tiny", seed=0)  # doctest: +SKIP
        PosixPath('/tmp/synth-tiny')
    """
    if preset not in SYNTH_PRESETS:
        raise DataError(f"unknown synthetic preset {preset!r}; valid presets: {', '.join(SYNTH_PRESETS)}")
    spec = SYNTH_PRESETS[preset]
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", spec.train_videos), ("val", spec.val_videos)):
        for i in range(n):
            write_video(root, split, i, spec, seed)
    manifest = dict(generator="tipsd.synth", version=GENERATOR_VERSION, preset=preset, seed=seed,
                    frame_size=list(spec.frame_size), flip_pairs=[list(p) for p in FLIP_PAIRS])
    (root / "tipsd_synth.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return root


__all__ = ["GENERATOR_VERSION", "SYNTH_PRESETS", "SynthPreset", "generate_dataset", "write_video"]
