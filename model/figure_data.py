"""The arrays the paper's two figures are drawn from, computed by running a trained network.

Drawing lives in `tipsd.analysis.figures` (no torch there); this module only runs networks and
returns NumPy arrays, so a test can compare them with the network's own outputs and hash them.

- Fig. 1 (`interim_figure_data`): for validation clips, the key frame's crop, each joint in the
  previous (t−δ) and next (t+δ) frame, the synthesizer's interim pose at several α decoded from its
  heatmaps (`TIPSDNet.synthesize`, `decode_heatmaps`), and the ground-truth interim target
  (1 − α)·p_prev + α·p_next (`tipsd.model.train_step.interim_targets`' formula). Clips are chosen
  from the ground truth alone (`interim_clips`: the largest neighbour-to-neighbour motion), so every
  cell shows the same clips.
- Fig. 2 (`results_figure_data`): full validation frames with the ground-truth and the predicted
  poses and each frame's PCKh@0.5 (poseval's matching, `tipsd.model.eval.poseval_map.match_frame`).
  `frame_pckh` scores every frame for one network; `hardest_frames` picks the frames with the lowest
  PCKh averaged over the networks compared, so every cell shows the same frames.

Coordinates: crop arrays are in input-crop pixels, frame arrays in original-image pixels (x, y).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from tipsd.model.data.clips import IMAGENET_MEAN, IMAGENET_STD
from tipsd.model.errors import DataError
from tipsd.model.posetrack18 import EVAL_SLOTS, NUM_KEYPOINTS
from tipsd.model.predict import build_predictions, decode_heatmaps, predict_samples

DEFAULT_ALPHAS = (0.25, 0.5, 0.75)  # interim factors drawn in Fig. 1 (0.5 = the key frame's time)
MOVING_JOINTS = 3  # joints per clip in Fig. 1's zoomed row: those that move most


def _collate(dataset, indices: Sequence[int]) -> dict[str, torch.Tensor]:
    """Samples `indices` of `dataset` without augmentation, stacked into one batch."""
    items = [dataset.sample(int(i)) for i in indices]
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def _neighbour_motion(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per clip and joint: |p_next − p_prev| (input pixels) and whether both neighbours label it."""
    kp, w = batch["keypoints"], batch["target_weight"]  # (B, 3, K, 3), (B, 3, K)
    both = (w[:, 0] > 0) & (w[:, 2] > 0)  # (B, K)
    motion = torch.linalg.vector_norm(kp[:, 2, :, :2] - kp[:, 0, :, :2], dim=-1)  # (B, K)
    return torch.where(both, motion, torch.zeros_like(motion)), both


def interim_clips(dataset, n: int) -> list[int]:
    """The `n` samples whose labelled joints move most between t−δ and t+δ, one per person first.

    The score of a sample is the mean |p_next − p_prev| over its joints labelled in both neighbour
    frames (0 when none is); ties are broken by sample index, and a person (video, track) is taken a
    second time only when every person has one clip. The choice is a function of the ground truth
    only, the same for every network.

    Raises:
        DataError: `n` < 1.
    """
    if n < 1:
        raise DataError(f"--clips {n!r}: need at least 1 clip")
    scores = []
    for first in range(0, len(dataset), 64):
        batch = _collate(dataset, range(first, min(len(dataset), first + 64)))
        motion, both = _neighbour_motion(batch)
        scores.append(motion.sum(1) / both.sum(1).clamp_min(1))
    score = torch.cat(scores).numpy()
    order = [int(i) for i in np.lexsort((np.arange(len(score)), -score))]  # largest first, then lowest index
    person = [(s.video, s.track_id) for s in dataset.samples]
    return _spread(order, person, n)


def _spread(order: Sequence[int], group: Sequence[Any], n: int) -> list:
    """The first `n` of `order`, taking at most one item per `group[item]` while other groups are left
    (so a figure shows several people or videos, not one moment after another of the same), then the rest."""
    first, seen = [], set()
    for i in order:
        if group[i] not in seen:
            seen.add(group[i])
            first.append(i)
    taken = set(first)
    rest = [i for i in order if i not in taken]
    return (first + rest)[:n]


def crop_images(frames: torch.Tensor) -> np.ndarray:
    """ImageNet-normalised crops `(N, 3, H, W)` back to uint8 RGB `(N, H, W, 3)`."""
    x = frames.permute(0, 2, 3, 1).numpy() * IMAGENET_STD + IMAGENET_MEAN
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


@torch.no_grad()
def interim_figure_data(net, dataset, indices: Sequence[int], alphas: Sequence[float] = DEFAULT_ALPHAS,
                        decode: str = "argmax") -> dict[str, np.ndarray]:
    """What Fig. 1 draws for one network, on validation samples `indices` of `dataset`.

    Args:
        net: a `TIPSDNet` (eval mode). dataset: validation `PoseTrackClips` of the network's config.
        indices: sample indices (`interim_clips`). alphas: interim factors in [0, 1].
        decode: heatmap decoding (the run's ``decode``).

    Returns (N clips, A factors, K = 17 joints, crop H × W):
        ``image`` uint8 (N, H, W, 3): the key frame's crop; ``prev``, ``next``, ``key`` float64
        (N, K, 2): the joints at t−δ, t+δ and t (input pixels); ``labelled`` bool (N, K): labelled in
        both neighbours; ``alphas`` (A,); ``synth`` (N, A, K, 2): the synthesizer's interim pose at
        each α, decoded from its heatmaps; ``synth_score`` (N, A, K): the heatmap peaks;
        ``target`` (N, A, K, 2): (1 − α)·prev + α·next; ``moving`` int64 (N, M): the M =
        `MOVING_JOINTS` joints with the largest |next − prev| (−1 where fewer are labelled);
        ``image_id``, ``track_id`` int64 (N,).

    Raises:
        DataError: an α outside [0, 1], or no index.
    """
    a = np.asarray(list(alphas), dtype=np.float64)
    if a.size == 0 or np.any((a < 0) | (a > 1)) or not np.all(np.isfinite(a)):
        raise DataError(f"alphas {list(alphas)!r}: interim factors must be numbers in [0, 1]")
    if not len(indices):
        raise DataError("no clip to draw")
    batch = _collate(dataset, indices)
    frames = batch["frames"]  # (N, 3, 3, H, W)
    out = net(frames)
    stride = frames.shape[-2] // out.heatmaps.shape[-2]
    synth, synth_score = [], []
    for alpha in a:  # one synthesizer pass per α, as in training (`loss_terms`)
        hm = net.synthesize(out.feats_prev, out.feats_next, frames.new_full((len(indices),), float(alpha)))
        xy, peak = decode_heatmaps(hm.float(), decode)  # (N, K, 2) heatmap px, (N, K)
        synth.append(xy.double().numpy() * stride)
        synth_score.append(peak.double().numpy())
    kp = batch["keypoints"].double().numpy()  # (N, 3, K, 3)
    motion, both = _neighbour_motion(batch)
    prev, nxt = kp[:, 0, :, :2], kp[:, 2, :, :2]
    target = (1 - a[None, :, None, None]) * prev[:, None] + a[None, :, None, None] * nxt[:, None]
    moving = np.full((len(indices), MOVING_JOINTS), -1, dtype=np.int64)
    for n, (m, ok) in enumerate(zip(motion.numpy(), both.numpy())):
        ranked = [int(j) for j in np.lexsort((np.arange(NUM_KEYPOINTS), -m)) if ok[j]][:MOVING_JOINTS]
        moving[n, :len(ranked)] = ranked
    return {
        "image": crop_images(frames[:, 1]), "prev": prev, "next": nxt, "key": kp[:, 1, :, :2],
        "labelled": both.numpy(), "alphas": a, "synth": np.stack(synth, 1), "synth_score": np.stack(synth_score, 1),
        "target": target, "moving": moving,
        "image_id": batch["image_id"].numpy(), "track_id": batch["track_id"].numpy(),
    }


def _predict(net, dataset, decode: str) -> dict[str, Any]:
    from tipsd.model.data.batches import ClipBatches

    return predict_samples(net, ClipBatches(dataset, "cpu").in_order(32), torch.device("cpu"), False, decode)


def _frame_people(gt_video, pred: dict, image_id: int, source: str):
    """(GT people, predicted people) of one frame of a parsed GT video, ignore regions applied
    (poseval's order); `pred` is the video's prediction dict (`build_predictions`)."""
    from tipsd.model.eval.posetrack_json import drop_ignored, empty_people, parse_video

    gt = gt_video.frames[image_id]
    anns = [a for a in pred.get("annotations", []) if int(a["image_id"]) == image_id]
    predicted = parse_video({"annotations": anns}, source, is_gt=False).frames.get(image_id)
    people = predicted.people if predicted is not None else empty_people()
    return drop_ignored(gt.people, gt.ignore_regions), drop_ignored(people, gt.ignore_regions)


def _parsed(dataset, v: int):
    from tipsd.model.eval.posetrack_json import parse_video

    return parse_video(dataset.videos[v], f"val video {v}", is_gt=True)


def frame_pckh(net, dataset, decode: str = "argmax") -> dict[tuple[int, int], float]:
    """PCKh@0.5 of every validation frame that has a sample, for one network.

    PCKh of a frame = true-positive joints / labelled GT joints over its people, with poseval's
    person matching (`match_frame`) and head size (0.6 × head-box diagonal).

    Returns:
        ``{(video index, image id): PCKh in [0, 1]}`` (frames without labelled joints are left out).
    """
    from tipsd.model.eval.poseval_map import match_frame

    pred = _predict(net, dataset, decode)
    names = [str(v) for v in range(len(dataset.videos))]
    preds = build_predictions(pred["image_id"], pred["track_id"], pred["xy"], pred["score"],
                              [names[v] for v in pred["video"]])
    out, parsed = {}, {}
    for v, image_id in sorted(set(zip(pred["video"], pred["image_id"]))):
        parsed.setdefault(v, _parsed(dataset, v))
        gt, people = _frame_people(parsed[v], preds.get(names[v], {}), int(image_id), f"val video {v}")
        n_gt = int(gt.present[:, list(EVAL_SLOTS)].sum())
        if n_gt:
            labels, _ = match_frame(gt, people)
            out[(int(v), int(image_id))] = float(labels.sum()) / n_gt
    return out


def hardest_frames(scores: Iterable[dict[tuple[int, int], float]], n: int) -> list[tuple[int, int]]:
    """The `n` frames with the lowest PCKh averaged over the networks' `frame_pckh` results, the
    hardest frame of each video first (then the next hardest), so a figure spans several videos.

    Only frames every network scored count; ties are broken by (video, image id), so the same
    inputs always give the same frames.

    Raises:
        DataError: `n` < 1 or no frame scored by all.
    """
    scores = list(scores)
    if n < 1:
        raise DataError(f"--frames {n!r}: need at least 1 frame")
    common = sorted(set.intersection(*(set(s) for s in scores))) if scores else []
    if not common:
        raise DataError("no validation frame was scored for every network compared")
    mean = {k: float(np.mean([s[k] for s in scores])) for k in common}
    order = sorted(common, key=lambda k: (mean[k], k))
    return [order[i] for i in _spread(range(len(order)), [k[0] for k in order], n)]


def _read_image(root: Path, video: dict, image_id: int) -> np.ndarray:
    from PIL import Image

    image = next(im for im in video["images"] if int(im["id"]) == image_id)
    path = root / image["file_name"]
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except OSError as err:
        raise DataError(f"{path}: cannot read frame image ({err})") from None


@torch.no_grad()
def results_figure_data(net, dataset, frames: Sequence[tuple[int, int]], decode: str = "argmax") -> dict[str, Any]:
    """What Fig. 2 draws for one network on `frames` (``(video index, image id)``, `hardest_frames`).

    Returns:
        ``image``: list of uint8 (Hf, Wf, 3) frames; ``gt``, ``pred``: lists of float64 (P, K, 3)
        arrays — x, y (image pixels) and 1 where the joint is labelled / predicted; ``pckh``
        float64 (F,) in [0, 1]; ``frames``: int64 (F, 2) the (video, image id) pairs.
    """
    from tipsd.model.eval.poseval_map import match_frame

    wanted = {(int(v), int(i)) for v, i in frames}
    keep = [j for j, s in enumerate(dataset.samples) if (s.video, s.image_id) in wanted]
    if not keep:
        raise DataError(f"frames {sorted(wanted)!r}: none has a validation sample")
    pred = predict_samples(net, [_collate(dataset, keep)], torch.device("cpu"), False, decode)
    out: dict[str, Any] = {"image": [], "gt": [], "pred": [], "pckh": [], "frames": np.asarray(frames, np.int64)}
    for v, image_id in frames:
        video = dataset.videos[v]
        rows = [j for j, key in enumerate(zip(pred["video"], pred["image_id"])) if key == (v, image_id)]
        preds = build_predictions([pred["image_id"][j] for j in rows], [pred["track_id"][j] for j in rows],
                                  pred["xy"][rows], pred["score"][rows], ["v"] * len(rows)) if rows else {}
        gt, people = _frame_people(_parsed(dataset, v), preds.get("v", {}), int(image_id), f"val video {v}")
        labels, _ = match_frame(gt, people)
        n_gt = int(gt.present[:, list(EVAL_SLOTS)].sum())
        out["image"].append(_read_image(Path(dataset.root), video, int(image_id)))
        out["gt"].append(np.concatenate([gt.kpts[..., :2], gt.present[..., None]], -1).astype(np.float64))
        out["pred"].append(np.concatenate([people.kpts[..., :2], people.present[..., None]], -1).astype(np.float64))
        out["pckh"].append(float(labels.sum()) / n_gt if n_gt else float("nan"))
    out["pckh"] = np.asarray(out["pckh"], np.float64)
    return out


__all__ = ["DEFAULT_ALPHAS", "MOVING_JOINTS", "crop_images", "frame_pckh", "hardest_frames", "interim_clips",
           "interim_figure_data", "results_figure_data"]
