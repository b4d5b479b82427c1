"""`train(config)`: the one training function every trial of every study calls.

Reads top to bottom: device and seeds, data, network and optimiser, (resume), then per epoch a pass
over shuffled training clips and a validation pass scored with the PoseTrack mAP. Everything random
is drawn from generators seeded by (seed, epoch), so a run is a function of its config (on the CPU),
and a resumed run continues exactly where the interrupted one would have been.
"""
from __future__ import annotations

import resource
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch
from typing import Iterable

from tipsd.model.checkpoint import load_checkpoint, save_checkpoint, write_config
from tipsd.model.config import TrainConfig, config_to_dict
from tipsd.model.device_plan import device_plan
from tipsd.model.errors import ConfigError
from tipsd.model.member import EMA as _EMA, build_member  # noqa: F401 (_EMA: the name tests use)
from tipsd.model.net.tipsd_net import TIPSDNet
from tipsd.model.predict import build_predictions, predict_samples
from tipsd.model.record import METRIC_NAMES as METRIC_KEYS  # Head ... Ankle, Total, oks_ap
from tipsd.model.run_data import clips_for, is_validated, prepare_data  # clips_for: re-exported
from tipsd.model.weights import network_state


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
    # The evaluated network's state dict (CPU tensors; the EMA copy when ema > 0), for
    # `tipsd.model.weights.save_weights`; not part of `to_dict`.
    weights: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of every field but `weights`."""
        return {k: v for k, v in asdict(replace(self, weights=None)).items() if k != "weights"}


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


def compile_available() -> bool:
    """Whether torch.compile can work here: a CUDA build with Triton (eager otherwise, never an error)."""
    import importlib.util

    return hasattr(torch, "compile") and importlib.util.find_spec("triton") is not None


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

    pred = predict_samples(net, loader, device, amp, decode)
    ids, tracks, vids = pred["image_id"], pred["track_id"], pred["video"]
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
    preds = build_predictions(ids, tracks, pred["xy"], pred["score"], [names[v] for v in vids])
    return evaluate(gt, preds)


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
    started = time.perf_counter()
    cfg = config
    device = select_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    plan = device_plan(device.type, amp=cfg.amp, compile=cfg.compile, compile_available=compile_available())
    data = prepare_data(cfg, device)
    member = build_member(cfg, device, data.steps_per_epoch * cfg.epochs, plan)

    history: list[dict[str, float]] = []
    start_epoch, step, losses, metrics = 0, 0, {}, None
    if checkpoint_dir is not None:
        write_config(cfg, checkpoint_dir)
        state = load_checkpoint(checkpoint_dir, cfg) if resume else None
        if state is not None:
            member.load(state)
            start_epoch, step = state["epoch"] + 1, state["step"]
            history, losses, metrics = state["history"], state["losses"], state["metrics"]

    train_seconds, train_clips = 0.0, 0
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        for batch, alpha in data.epoch_batches(cfg, epoch):
            member.step(batch, alpha, step)
            step += 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_seconds += time.perf_counter() - t0
        train_clips += data.steps_per_epoch * data.batch_size
        losses = member.take_epoch_losses(data.steps_per_epoch)

        validated = is_validated(cfg, epoch)
        if validated:
            metrics = validate(member.eval_net, data.val_batches.in_order(cfg.batch_size), data.val_set.videos,
                               device, plan.amp, cfg.decode)
        history.append({"epoch": epoch, "Total": float(metrics["Total"]) if metrics else float("nan"),
                        "train_loss": losses["total"], "seconds": time.perf_counter() - t0})
        if checkpoint_dir is not None:
            save_checkpoint(checkpoint_dir, cfg, {**member.state(), "epoch": epoch, "step": step,
                                                  "history": history, "losses": losses, "metrics": metrics})
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
        loss_scales=member.loss_scales,
        weights=network_state(member.eval_net),
    )


__all__ = ["METRIC_KEYS", "TrainResult", "clips_for", "compile_available", "peak_memory_mb", "select_device", "train",
           "validate"]
