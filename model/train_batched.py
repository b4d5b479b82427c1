"""`train_batched(configs)`: K settings of the five loss weights trained in one process on one batch stream.

Why: on a GPU a small network's step is launch-bound, so K networks fed the same batch share the
data pipeline (gather, warp, targets: once per step instead of K times), the validation batches and
the process's start-up (CUDA context, crop cache on the device). Each setting keeps its own network,
optimiser, schedule and EMA (`tipsd.model.member.Member`) and takes exactly the step `train` takes:
on the CPU a member's result equals `train(config)`'s for the same config (tests/test_train_batched.py).

The K configs may differ only in their loss weights (and the debug_nan_* testing keys): the batch
stream is a function of the data keys, the seed and the epoch. A member that diverges, or whose
`on_epoch` raises (a pruned trial), leaves the batch; the others go on.
"""
from __future__ import annotations

import time
from typing import Callable, Sequence

import torch

from tipsd.model.config import GAMMA_NAMES, TrainConfig, config_to_dict
from tipsd.model.device_plan import device_plan
from tipsd.model.errors import ConfigError
from tipsd.model.member import build_member
from tipsd.model.record import METRIC_NAMES as METRIC_KEYS
from tipsd.model.run_data import is_validated, prepare_data
from tipsd.model.train import TrainResult, compile_available, peak_memory_mb, select_device, validate

# Config keys that may differ between the members of one batch (everything else shapes the stream).
PER_MEMBER_KEYS = frozenset(GAMMA_NAMES) | {"debug_nan_term", "debug_nan_step"}


def check_batchable(configs: Sequence[TrainConfig]) -> None:
    """Raise ConfigError if `configs` is empty or two of them differ in a key outside `PER_MEMBER_KEYS`.

    Example:
        >>> from tipsd.model.config import make_config
        >>> check_batchable([make_config("tiny"), make_config("tiny", {"seed": 1})])
        Traceback (most recent call last):
        ...
        tipsd.model.errors.ConfigError: train_batched: config 1 has seed=1, config 0 has seed=0; a batch of settings shares every key but the loss weights
    """
    if not configs:
        raise ConfigError("train_batched: no configs given")
    first = config_to_dict(configs[0])
    for i, cfg in enumerate(configs[1:], start=1):
        for key, value in config_to_dict(cfg).items():
            if key not in PER_MEMBER_KEYS and value != first[key]:
                raise ConfigError(f"train_batched: config {i} has {key}={value!r}, config 0 has {key}={first[key]!r}; "
                                  "a batch of settings shares every key but the loss weights")


def train_batched(
    configs: Sequence[TrainConfig],
    *,
    on_epoch: Callable[[int, int, dict[str, float]], None] | None = None,
) -> list[TrainResult | Exception]:
    """Train one network per config on one shared batch stream; return each one's result or error.

    Args:
        configs: K validated configs that differ only in `PER_MEMBER_KEYS` (`check_batchable`).
        on_epoch: called as ``on_epoch(k, epoch, metrics)`` after each validated epoch for each member
            `k` still training (`metrics`: the validation `METRIC_KEYS`); whatever it raises (e.g.
            `optuna.TrialPruned`) ends member `k` alone and becomes its entry in the returned list.

    Returns:
        A list of K entries in `configs` order: the member's `TrainResult`, or the exception that
        ended it (`DivergenceError` naming step and term, the pruning exception, any other error
        of that member). `duration_s` is the call's wall-clock divided by K (each member's share) and
        `frames_per_s` the training clips per second of that share.

    Raises:
        ConfigError: configs that cannot share a batch stream, a bad device. DataError: the dataset.
        KeyboardInterrupt and errors of the shared part (data, validation set-up) end every member.

    Example:
        >>> from tipsd.model.config import make_config
        >>> results = train_batched([make_config("tiny", {"gamma_s": g}) for g in (0.1, 1)])  # doctest: +SKIP
        >>> [r.metrics["Total"] for r in results]  # doctest: +SKIP
    """
    started = time.perf_counter()
    check_batchable(configs)
    cfg = configs[0]
    device = select_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    plan = device_plan(device.type, amp=cfg.amp, compile=cfg.compile, compile_available=compile_available())
    data = prepare_data(cfg, device)
    members = [build_member(c, device, data.steps_per_epoch * cfg.epochs, plan) for c in configs]
    ended: dict[int, Exception] = {}
    history: list[list[dict[str, float]]] = [[] for _ in configs]
    losses: list[dict[str, float]] = [{} for _ in configs]
    metrics: list[dict | None] = [None for _ in configs]

    step, train_seconds, train_clips = 0, 0.0, 0
    for epoch in range(cfg.epochs):
        t0 = time.perf_counter()
        for batch, alpha in data.epoch_batches(cfg, epoch):
            for k, member in enumerate(members):
                if k in ended:
                    continue
                try:
                    member.step(batch, alpha, step)
                except Exception as err:  # a diverged (or otherwise broken) setting leaves the batch alone
                    ended[k] = err
            step += 1
            if len(ended) == len(members):
                break
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_seconds += time.perf_counter() - t0
        train_clips += data.steps_per_epoch * data.batch_size
        validated = is_validated(cfg, epoch)
        for k, member in enumerate(members):
            if k in ended:
                continue
            losses[k] = member.take_epoch_losses(data.steps_per_epoch)
            try:
                if validated:
                    metrics[k] = validate(member.eval_net, data.val_batches.in_order(cfg.batch_size),
                                          data.val_set.videos, device, plan.amp, cfg.decode)
                history[k].append({"epoch": epoch, "Total": float(metrics[k]["Total"]) if metrics[k] else float("nan"),
                                   "train_loss": losses[k]["total"], "seconds": time.perf_counter() - t0})
                if on_epoch is not None and validated:
                    on_epoch(k, epoch, {key: float(metrics[k][key]) for key in METRIC_KEYS})
            except Exception as err:  # e.g. optuna.TrialPruned raised by this member's on_epoch
                ended[k] = err
        if len(ended) == len(members):
            break

    share = (time.perf_counter() - started) / len(members)
    results: list[TrainResult | Exception] = []
    for k, member in enumerate(members):
        if k in ended:
            results.append(ended[k])
            continue
        results.append(TrainResult(
            metrics={key: float(metrics[k][key]) for key in METRIC_KEYS},
            joint_ap={j: float(v) for j, v in metrics[k]["joints"].items()},
            losses=losses[k], history=history[k], duration_s=share,
            frames_per_s=train_clips * len(members) / train_seconds if train_seconds > 0 else 0.0,
            peak_mem_mb=peak_memory_mb(device), device=str(device), config=config_to_dict(member.cfg),
            loss_scales=member.loss_scales,
        ))
    return results


def probe_trial_bytes(cfg: TrainConfig) -> int:
    """Peak device memory of one setting's training step beyond what the data takes, in bytes (CUDA).

    Trains one step of a throw-away member and reads `torch.cuda.max_memory_allocated`; 0 on the
    CPU (`auto_batch_trials` then gives 1).
    """
    device = select_device(cfg.device)
    if device.type != "cuda":
        return 0
    plan = device_plan(device.type, amp=cfg.amp, compile=False)  # compiling only to measure costs minutes
    data = prepare_data(cfg, device)
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    member = build_member(cfg, device, data.steps_per_epoch * cfg.epochs, plan)
    batch, alpha = next(data.epoch_batches(cfg, 0))
    member.step(batch, alpha, 0)
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) - base
    del member, batch, data
    torch.cuda.empty_cache()
    return int(peak)


__all__ = ["PER_MEMBER_KEYS", "check_batchable", "probe_trial_bytes", "train_batched"]
