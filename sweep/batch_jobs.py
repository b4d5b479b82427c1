"""Batched trials (`tipsd run --batch-trials K|auto`): K claimed jobs trained together, told one by one.

A worker claims up to K missing jobs of one seed (they share one batch stream), each as its own
RUNNING trial with its own heartbeat, trains them with `tipsd.model.train_batched.train_batched`,
and then settles each trial exactly as a one-at-a-time run is settled (`tipsd.sweep.train_job.settle`):
its own metrics, loss terms, intermediate values (reported per epoch, so the pruner sees them), and
state. A member that diverges or is pruned ends alone; an error of the shared part (the dataset)
fails every member with its reason. A killed worker leaves K RUNNING trials whose heartbeats stop:
each is failed as stale and its job re-run, like any dead worker's trial.
"""
from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Sequence

from tipsd.model.config import GAMMA_NAMES
from tipsd.sweep import interrupts
from tipsd.sweep.heartbeat import Heartbeat
from tipsd.sweep.jobs import Job, Ledger
from tipsd.sweep.spec import StudySpec
from tipsd.sweep.train_job import Outcome, epoch_reporter, job_config, settle, tell_interrupted


def pick_group(led: Ledger, first: Job, k: int, spec: StudySpec) -> list[Job]:
    """`first` and up to ``k - 1`` more missing jobs that can share its batch stream (same seed).

    A new Bayesian sample (`Job.new_sample`) stands for "ask the sampler"; it is repeated as long as
    the study's budget has settings left to propose.

    Example:
        >>> [j.key for j in pick_group(led, led.missing[0], 4, spec)]  # doctest: +SKIP
    """
    group = [first] + [j for j in led.missing if j is not first and not j.new_sample and j.seed == first.seed][:k - 1]
    if not spec.is_grid and first.seed == spec.seeds[0] and any(j.new_sample for j in led.missing):
        proposals_left = spec.budget - led.cells_sampled - sum(j.new_sample for j in group)
        new = Job(gammas={}, seed=first.seed, new_sample=True)
        group += [new] * max(0, min(k - len(group), proposals_left))
    return group


def looped(train_fn: Callable) -> Callable:
    """A ``batch_fn`` that trains the configs one after another with `train_fn` (same contract as
    `train_batched`: one result or exception per config). For injected training functions (tests)."""

    def batch_fn(configs, *, on_epoch=None):
        results = []
        for k, cfg in enumerate(configs):
            report = (lambda epoch, metrics, k=k: on_epoch(k, epoch, metrics)) if on_epoch else None
            try:
                results.append(train_fn(cfg, on_epoch=report))
            except Exception as err:  # noqa: BLE001 - one member's error is its entry
                results.append(err)
        return results

    return batch_fn


def _replay(entry: Any) -> Callable[[], Any]:
    """``run`` for `settle`: return a member's result, or raise the exception that ended it."""

    def run():
        if isinstance(entry, BaseException):
            raise entry
        return entry

    return run


def train_jobs_batched(study, claims: Sequence[tuple[Any, Job]], spec: StudySpec, *, batch_fn: Callable,
                       storage, runtime: dict[str, Any], started: float) -> list[Outcome]:
    """Train the claimed `(trial, job)` pairs together with `batch_fn` and settle each trial.

    Args:
        study: the study. claims: the RUNNING trials and their jobs (one seed).
        spec: the study spec. storage: the RDBStorage (heartbeats).
        batch_fn: ``batch_fn(configs, on_epoch=on_epoch) -> [TrainResult | Exception]`` with
            ``on_epoch(k, epoch, metrics)`` (`tipsd.model.train_batched.train_batched`, or `looped`).
        runtime: per-run config overrides (the device). started: when the claims began.

    Returns:
        One `Outcome` per claim, in order (``train_s`` is the shared training time). Ctrl-C/SIGTERM
        ends every claimed trial as interrupted and re-raises KeyboardInterrupt.
    """
    from tipsd.sweep.storage import StorageUnavailable

    configs = [job_config(spec, job, runtime) for _, job in claims]
    reported: list[set[int]] = [set() for _ in claims]
    reporters = [epoch_reporter(trial, spec, seen) for (trial, _), seen in zip(claims, reported)]
    interval = spec.run["heartbeat_s"] if storage.heartbeat_interval else None
    t0 = time.perf_counter()
    try:
        with contextlib.ExitStack() as beats:
            for trial, _ in claims:
                beats.enter_context(Heartbeat(storage, trial._trial_id, interval))
            with interrupts.interruptible():  # pure computation: a stop may land anywhere
                results = batch_fn(configs, on_epoch=lambda k, epoch, metrics: reporters[k](epoch, metrics))
    except KeyboardInterrupt:
        for trial, _ in claims:
            tell_interrupted(study, trial)
        raise
    except StorageUnavailable:
        raise
    except Exception as err:  # the shared part failed (data, device): every member fails with its reason
        results = [err] * len(claims)
    train_s = time.perf_counter() - t0
    outcomes = []
    for (trial, job), entry, seen in zip(claims, results, reported):
        out = settle(study, trial, spec, job, storage=storage, started=started, reported=seen, run=_replay(entry))
        out.train_s = train_s
        outcomes.append(out)
    return outcomes


def resolve_batch_trials(value: int | str, spec: StudySpec, runtime: dict[str, Any]) -> int:
    """K for ``--batch-trials``: an int as given; "auto" from the free GPU memory, 1 on the CPU.

    "auto" trains one step of one setting to measure its peak memory (`probe_trial_bytes`) and
    fits as many as `tipsd.model.device_plan.auto_batch_trials` allows.
    """
    if value != "auto":
        return int(value)
    from tipsd.model.train import select_device
    from tipsd.model.train_batched import probe_trial_bytes
    from tipsd.model.device_plan import auto_batch_trials

    first = Job(gammas=dict.fromkeys(GAMMA_NAMES, 1.0), seed=spec.seeds[0])
    cfg = job_config(spec, first, runtime)
    device = select_device(cfg.device)
    if device.type != "cuda":
        return 1
    import torch

    trial_bytes = probe_trial_bytes(cfg)
    return auto_batch_trials(device.type, torch.cuda.mem_get_info(device)[0], trial_bytes)


__all__ = ["looped", "pick_group", "resolve_batch_trials", "train_jobs_batched"]
