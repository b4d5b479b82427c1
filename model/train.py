"""`train(config)`: the one training function every trial of every study calls.

Reads top to bottom: device and seeds, data, network and optimiser, (resume), then per epoch a pass
over shuffled training clips and a validation pass scored with the PoseTrack mAP. Everything random
is drawn from generators seeded by (seed, epoch), so a run is a function of its config (on the CPU),
and a resumed run continues exactly where the interrupted one would have been.
"""
from __future__ import annotations

import math
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from typing import Iterable

from tipsd.model.checkpoint import load_checkpoint, save_checkpoint, write_config
from tipsd.model.config import GAMMA_NAMES, LOSS_NAMES, TrainConfig, config_to_dict
from tipsd.model.errors import ConfigError, DataError, DivergenceError
from tipsd.model.net.losses import TERM_NAMES, total_loss
from tipsd.model.net.tipsd_net import TIPSDNet
from tipsd.model.predict import build_predictions, decode_heatmaps, to_image_coords
from tipsd.model.record import METRIC_NAMES as METRIC_KEYS  # Head ... Ankle, Total, oks_ap
from tipsd.model.train_step import init_grad_scales, loss_terms


@dataclass
class TrainResult:
    """What one training run produced (see docs/architecture.md, "Training API")."""

    metrics: dict[str, float]  # Head ... Ankle, Total, oks_ap (percent, val split)
    joint_ap: dict[str, float]  # AP per evaluated joint (percent)
    losses: dict[str, float]  # unweighted terms + total, averaged over the last epoch
    history: list[dict[str, float]] = field(default_factory=list)  # epoch, Total, train_loss, seconds
    duration_s: float = 0.0  # wall-clock of the whole call
    frames_per_s: float = 0.0  # training clips (key frames, each with 2 neighbours) per second
    peak_mem_mb: float = 0.0  # CPU: peak RSS of the process; CUDA: max_memory_allocated
    device: str = "cpu"
    loss_scales: dict[str, float] = field(default_factory=dict)  # loss_balance factors per term (1 = none)
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of every field."""
        return asdict(self)


def select_device(requested: str, cuda_available: bool | None = None) -> torch.device:
    """The torch device for config key `device`.

    "auto" is CUDA when available, else the CPU (the clean fallback). An explicit "cuda"/"cuda:N"
    without a usable GPU is a ConfigError rather than a crash deep inside torch.
    """
    available = torch.cuda.is_available() if cuda_available is None else cuda_available
    if requested == "auto":
        return torch.device("cuda" if available else "cpu")
    if requested.startswith("cuda"):
        if not available:
            raise ConfigError(f"config key device: {requested!r} requested but CUDA is not available; use auto or cpu")
        index = int(requested.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ConfigError(f"config key device: {requested!r} but only {torch.cuda.device_count()} GPU(s)")
    return torch.device(requested)


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory so far: CUDA max_memory_allocated, or the process's peak RSS on the CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A generator for one epoch's random draws, independent of every other epoch (resume-safe)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def _video_names(videos: list[dict]) -> list[str]:
    """Each video's name (its file stem), in `videos` order."""
    return [Path(video.get("_file", f"video{i:04d}")).stem for i, video in enumerate(videos)]


@torch.no_grad()
def validate(net: TIPSDNet, loader: Iterable[dict], videos: list[dict], device: torch.device, amp: bool,
             decode: str = "argmax") -> dict:
    """Predict every validation sample and score it; returns `tipsd.model.eval.evaluate`'s dict.

    `loader` yields collated batches (a DataLoader over the split, or `ClipBatches.in_order`).

    `videos` is the split's `load_split` list (a batch's ``video`` indexes it, so image ids need not
    be unique across videos). When the split is capped (max_val_samples), only the images that have
    a sample are scored.
    """
    from tipsd.model.eval import evaluate

    net.eval()
    ids, tracks, vids, xys, scores = [], [], [], [], []
    for batch in loader:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out = net(batch["frames"].to(device, non_blocking=True))
        heatmaps = out.heatmaps.float().cpu()  # (B, K, H/s, W/s)
        xy_hm, maxval = decode_heatmaps(heatmaps, decode)  # (B, K, 2), (B, K)
        stride = batch["frames"].shape[-2] // heatmaps.shape[-2]
        xys.append(to_image_coords(xy_hm, batch["affine"], stride))
        scores.append(maxval.clamp(0, 1))
        ids += batch["image_id"].tolist()
        tracks += batch["track_id"].tolist()
        vids += batch["video"].tolist()
    net.train()
    names = _video_names(videos)
    seen: dict[int, set[int]] = {}
    for v, image_id in zip(vids, ids):
        seen.setdefault(v, set()).add(image_id)
    gt = {}
    for v, video in enumerate(videos):  # score only what was predicted (a no-op for an uncapped split)
        if v in seen:
            gt[names[v]] = {
                "images": [im for im in video["images"] if int(im["id"]) in seen[v]],
                "annotations": [a for a in video["annotations"] if int(a["image_id"]) in seen[v]],
            }
    preds = build_predictions(ids, tracks, torch.cat(xys), torch.cat(scores), [names[v] for v in vids])
    return evaluate(gt, preds)


class _EMA:
    """An exponential moving average of a network's parameters (Polyak averaging).

    `decay` is warmed up as min(decay, (1 + step) / (10 + step)) (timm's ModelEmaV2 schedule) so
    that the early average is not dominated by the random initialisation.
    """

    def __init__(self, net: torch.nn.Module, decay: float):
        import copy

        self.model = copy.deepcopy(net).eval()
        self.decay = decay
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, net: torch.nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        ema = list(self.model.parameters())
        torch._foreach_lerp_(ema, [p.detach() for p in net.parameters()], 1 - d)


def _check_finite(terms: torch.Tensor, total: torch.Tensor, step: int) -> None:
    """Raise DivergenceError naming the first non-finite term (or the total)."""
    values = torch.cat([terms.detach(), total.detach().view(1)]).tolist()
    for name, value in zip(LOSS_NAMES, values):
        if not math.isfinite(value):
            raise DivergenceError(step, name, value)


def train(
    config: TrainConfig,
    *,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
) -> TrainResult:
    """Train one TIPSD model with `config`'s loss weights and return its validation metrics.

    Args:
        config: a validated `TrainConfig` (build it with `make_config`).
        on_epoch: called as `on_epoch(epoch, metrics)` after each epoch, `metrics` the validation
            `METRIC_KEYS` (Head ... Ankle, Total, oks_ap) so a caller can follow any of them;
            whatever it raises (e.g. `optuna.TrialPruned`) propagates.
        checkpoint_dir: if given, a checkpoint and `config.json` are written there after each epoch.
        resume: continue from the checkpoint in `checkpoint_dir` (a fresh run if there is none).

    Returns:
        `TrainResult` (metrics on the val split, last-epoch unweighted loss terms, history, timings).

    Raises:
        DivergenceError: a loss term became NaN/Inf (names the step and the term).
        ConfigError / DataError: bad device, dataset, or a checkpoint from a different config.

    Example:
        >>> from tipsd.model.config import make_config
        >>> result = train(make_config("tiny"))  # doctest: +SKIP
        >>> result.metrics["Total"]  # doctest: +SKIP
    """
    from tipsd.model.data import PoseTrackClips, resolve_dataset
    from tipsd.model.data.batches import ClipBatches

    started = time.perf_counter()
    cfg = config
    device = select_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    use_amp = cfg.amp and device.type == "cuda"  # bf16 autocast is a GPU speed-up only
    torch.manual_seed(cfg.seed if cfg.init_seed < 0 else cfg.init_seed)  # network initialisation

    # ---- data
    root = resolve_dataset(cfg.data, cfg.cache_dir)
    size = (cfg.input_height, cfg.input_width)
    common = dict(input_size=size, delta=cfg.delta, sigma=cfg.sigma, seed=cfg.seed, cache_dir=cfg.cache_dir,
                  stride=cfg.heatmap_stride, box_enlarge=cfg.box_enlarge)
    train_set = PoseTrackClips(root, "train", train=cfg.augment, max_samples=cfg.max_train_samples,
                               flip_prob=cfg.flip_prob, rot_factor=cfg.rotation, scale_factor=cfg.scale_jitter,
                               **common)
    val_set = PoseTrackClips(root, "val", train=False, max_samples=cfg.max_val_samples, **common)
    if len(train_set) < 2 or len(val_set) < 1:
        raise DataError(f"{cfg.data}: needs at least 2 train and 1 val samples, has {len(train_set)} and {len(val_set)}")
    # Batches are gathered, warped and rendered as whole tensors (on the GPU when there is one).
    on_gpu = device.type == "cuda"
    train_batches = ClipBatches(train_set, device, on_device=on_gpu)
    val_batches = ClipBatches(val_set, device, on_device=on_gpu)
    batch_size = min(cfg.batch_size, len(train_set))
    steps_per_epoch = len(train_set) // batch_size  # drop the ragged last batch: batch statistics need B >= 2
    total_steps = steps_per_epoch * cfg.epochs

    # ---- network, optimiser, schedule
    net = TIPSDNet(cfg.widths, cfg.blocks, cfg.feat_dim, heatmap_stride=cfg.heatmap_stride).to(device)
    # Validation reads an exponential moving average of the weights when cfg.ema > 0 (a copy of the
    # network whose parameters trail the trained ones); the optimiser never sees it.
    ema_net = _EMA(net, cfg.ema) if cfg.ema > 0 else None
    optimizer = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    # Linear warm-up over the first 5 % of steps (Adam on a fresh net) times a cosine decay to 0
    # over all steps (the cosine starts at step 0, so the warm-up's end is already slightly decayed).
    warmup = max(1, total_steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / total_steps))
    )
    gammas = torch.tensor([getattr(cfg, g) for g in GAMMA_NAMES], device=device)  # (5,) a tensor input, not a constant
    scales = None if cfg.loss_balance == "init_grad" else torch.ones(len(TERM_NAMES), device=device)  # (5,)

    history: list[dict[str, float]] = []
    start_epoch, step, losses, metrics = 0, 0, {}, None
    if checkpoint_dir is not None:
        write_config(cfg, checkpoint_dir)
        state = load_checkpoint(checkpoint_dir, cfg) if resume else None
        if state is not None:
            net.load_state_dict(state["model"])
            if ema_net is not None:
                ema_net.model.load_state_dict(state["ema"])
            optimizer.load_state_dict(state["optimizer"])
            schedule.load_state_dict(state["schedule"])
            start_epoch, step = state["epoch"] + 1, state["step"]
            history, losses, metrics = state["history"], state["losses"], state["metrics"]
            scales = state["loss_scales"].to(device)

    train_seconds, train_clips = 0.0, 0
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        gen = _epoch_generator(cfg.seed, epoch)
        # Sample order, augmentation and alpha all come from this epoch's generator, in this order
        # per batch: a resumed run draws exactly what the uninterrupted one drew.
        order = torch.randperm(len(train_set), generator=gen)[: steps_per_epoch * batch_size]
        sums = torch.zeros(len(LOSS_NAMES))
        for first in range(0, len(order), batch_size):
            batch = train_batches.batch(order[first:first + batch_size], gen if cfg.augment else None)
            alpha = torch.rand(batch_size, generator=gen).to(device)  # (B,) interim factors
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                terms, _ = loss_terms(net, batch, alpha, cfg.sigma)  # (5,) float32
            if cfg.debug_nan_term and step == cfg.debug_nan_step and cfg.debug_nan_term != "total":
                nan_mask = torch.tensor([n == cfg.debug_nan_term for n in TERM_NAMES], device=device)
                terms = torch.where(nan_mask, torch.full_like(terms, float("nan")), terms)
            if scales is None:  # loss_balance = "init_grad": fixed from the first batch, kept in checkpoints
                scales = init_grad_scales(net, terms)
            loss = total_loss(terms * scales, gammas)
            if cfg.debug_nan_term == "total" and step == cfg.debug_nan_step:
                loss = loss * float("nan")
            # Check before the update, so a diverged step never writes NaN into the weights.
            _check_finite(terms, loss, step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            # Large gamma (5) can spike gradients early on; clipping keeps such cells trainable.
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            optimizer.step()
            schedule.step()
            if ema_net is not None:
                ema_net.update(net, step)
            sums += torch.cat([terms.detach(), loss.detach().view(1)]).float().cpu()
            step += 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_seconds += time.perf_counter() - t0
        train_clips += steps_per_epoch * batch_size
        losses = {name: float(v) / max(1, steps_per_epoch) for name, v in zip(LOSS_NAMES, sums.tolist())}

        validated = epoch == cfg.epochs - 1 or bool(cfg.val_every and (epoch + 1) % cfg.val_every == 0)
        if validated:
            model = ema_net.model if ema_net is not None else net
            metrics = validate(model, val_batches.in_order(cfg.batch_size), val_set.videos, device, use_amp, cfg.decode)
        history.append({"epoch": epoch, "Total": float(metrics["Total"]) if metrics else float("nan"),
                        "train_loss": losses["total"], "seconds": time.perf_counter() - t0})
        if checkpoint_dir is not None:
            save_checkpoint(checkpoint_dir, cfg, {
                "model": net.state_dict(), "ema": ema_net.model.state_dict() if ema_net else None, "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(), "epoch": epoch, "step": step, "loss_scales": scales.cpu(),
                "history": history, "losses": losses, "metrics": metrics,
            })
        if on_epoch is not None and validated:
            on_epoch(epoch, {k: float(metrics[k]) for k in METRIC_KEYS})

    return TrainResult(
        metrics={k: float(metrics[k]) for k in METRIC_KEYS},
        joint_ap={k: float(v) for k, v in metrics["joints"].items()},
        losses=losses,
        history=history,
        duration_s=time.perf_counter() - started,
        frames_per_s=train_clips / train_seconds if train_seconds > 0 else 0.0,
        peak_mem_mb=peak_memory_mb(device),
        device=str(device),
        config=config_to_dict(cfg),
        loss_scales=dict(zip(TERM_NAMES, scales.tolist())),
    )


__all__ = ["METRIC_KEYS", "TrainResult", "peak_memory_mb", "select_device", "train", "validate"]
