"""Run a study: create or resume it, then let one or more workers claim and train missing jobs.

Every worker runs `worker_loop`: fail stale trials (heartbeat), read the ledger, claim a missing job,
train it, repeat; when nothing is missing it waits for running trials (which may fail and come back)
and stops when the ledger is finished. Because the ledger is derived from the stored trials, the
same loop serves a first run, a restart after an interruption, local workers (`--workers N`, joblib
processes) and workers on many machines sharing one PostgreSQL URL.
"""
from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from tipsd.sweep.claim import claim
from tipsd.sweep.jobs import Ledger, ledger
from tipsd.sweep.progress import Poller, Progress, summary_line
from tipsd.sweep.spec import StudySpec
from tipsd.sweep.storage import create_or_resume, open_storage
from tipsd.sweep.train_job import Outcome, train_job

# Seconds between looks at the storage while only other workers' trials are running.
POLL_S = 1.0
# A Bayesian sampler that keeps proposing settings already tried (small categorical spaces) stops.
MAX_REPEATED_SAMPLES = 50


@dataclass
class RunReport:
    """What one `run_study` call did.

    Attributes:
        outcomes: every trial this call's workers finished, in order of finishing.
        ledger: the study's ledger after the run.
        wall_s: wall-clock seconds of the whole call.
    """

    outcomes: list[Outcome] = field(default_factory=list)
    ledger: Ledger | None = None
    wall_s: float = 0.0


def _default_train() -> Callable:
    from tipsd.model.train import train

    return train


def run_study(spec: StudySpec, storage_url: str, *, workers: int = 1, device: str | None = None,
              train_fn: Callable | None = None, version: str = "", progress: bool = True) -> RunReport:
    """Create or resume `spec`'s study in `storage_url` and run it until every job is settled.

    Args:
        spec: the validated study spec.
        storage_url: Optuna storage URL.
        workers: local worker processes (joblib); each gets ``cores // workers`` torch threads.
        device: training device override ("cpu", "cuda", ...), or None for the preset's.
        train_fn: the training function (default `tipsd.model.train.train`); injectable for tests.
        version: tipsd version recorded in the study and every trial.
        progress: show the tqdm bar.

    Returns:
        A `RunReport`.

    Example:
        >>> run_study(load_spec("studies/smoke.toml"), "sqlite:///tipsd.db").ledger.finished  # doctest: +SKIP
        True
    """
    t0 = time.perf_counter()
    storage = open_storage(storage_url, heartbeat_s=spec.run["heartbeat_s"], grace_s=spec.run["grace_s"])
    study = create_or_resume(spec, storage, version)
    led = ledger(spec, study.get_trials(deepcopy=False))
    bar = Progress(spec.name, led.total, led.settled, enabled=progress)
    runtime = runtime_overrides(device, workers)
    report = RunReport()
    try:
        if workers <= 1:
            report.outcomes = worker_loop(spec, storage_url, worker=0, runtime=runtime,
                                          train_fn=train_fn, version=version, bar=bar, study=study,
                                          storage=storage)
        else:
            from joblib import Parallel, delayed

            count = lambda: ledger(spec, study.get_trials(deepcopy=False)).settled  # noqa: E731
            with Poller(bar, count):
                results = Parallel(n_jobs=workers, backend="loky")(
                    delayed(worker_loop)(spec, storage_url, worker=i, runtime=runtime, train_fn=train_fn,
                                         version=version, bar=None)
                    for i in range(workers))
            report.outcomes = [o for r in results for o in r]
        report.ledger = ledger(spec, study.get_trials(deepcopy=False))
        bar.set(report.ledger.settled)
    finally:
        bar.close()
    report.wall_s = time.perf_counter() - t0
    return report


def runtime_overrides(device: str | None, workers: int) -> dict[str, Any]:
    """Config keys set per run, not per study: only the device. Torch threads are a config key of
    their own (`threads`, 1 in the CPU presets), never derived from `workers`, so that a run gives
    the same value whatever the number of workers (intra-op threads change summation order)."""
    return {"device": device} if device else {}


def worker_loop(spec: StudySpec, storage_url: str, *, worker: int, runtime: dict[str, Any],
                train_fn: Callable | None = None, version: str = "", bar: Progress | None = None,
                study=None, storage=None) -> list[Outcome]:
    """Claim and train missing jobs until the study's ledger is finished (see module docstring).

    Args:
        spec, storage_url: the study and where it is stored (each worker process connects itself).
        worker: this worker's index (spreads claims, labels its summary lines).
        runtime: per-run config overrides (`runtime_overrides`).
        train_fn: the training function (default `tipsd.model.train.train`).
        version: tipsd version to record.
        bar: the parent's progress bar when running in-process, else None (lines go to stdout).
        study, storage: an already open study and storage (in-process); opened here if None.

    Returns:
        The outcomes of the trials this worker finished.
    """
    import torch

    from tipsd.sweep.storage import quiet_optuna

    quiet_optuna()
    threads_before = torch.get_num_threads()  # `train` sets the config's threads
    try:
        return _claim_and_train(spec, storage_url, worker, runtime, train_fn, version, bar, study, storage)
    finally:
        torch.set_num_threads(threads_before)  # in-process callers get their setting back


def _claim_and_train(spec, storage_url, worker, runtime, train_fn, version, bar, study, storage) -> list[Outcome]:
    """The body of `worker_loop` (same arguments)."""
    import optuna

    from tipsd.sweep.pruners import build_pruner
    from tipsd.sweep.samplers import study_sampler

    if storage is None:
        storage = open_storage(storage_url, heartbeat_s=spec.run["heartbeat_s"], grace_s=spec.run["grace_s"])
    if study is None:
        study = optuna.load_study(study_name=spec.name, storage=storage, sampler=study_sampler(spec, worker),
                                  pruner=build_pruner(spec.pruner))
    train_fn = train_fn or _default_train()
    rng = random.Random(f"{os.getpid()}-{worker}-{time.time_ns()}")
    searched = list(spec.space)
    outcomes: list[Outcome] = []
    repeated = 0
    while True:
        optuna.storages.fail_stale_trials(study)
        led = ledger(spec, study.get_trials(deepcopy=False))
        if bar is not None:
            bar.set(led.settled)
        if not led.missing:
            if not led.running:
                return outcomes
            time.sleep(POLL_S)
            continue
        # Local workers start at different jobs (their index) plus a little randomness for workers
        # on other machines; a collision is harmless anyway (the later claim marks itself duplicate).
        job = led.missing[(worker + rng.randrange(3)) % len(led.missing)]
        started = time.perf_counter()
        trial, job = claim(study, spec, job, version)
        if trial is None:
            repeated += 1
            if job.new_sample and repeated > MAX_REPEATED_SAMPLES:
                _say(bar, worker, f"{spec.name}: the sampler keeps proposing settings already tried; "
                                  f"stopping at {led.cells_sampled} settings")
                return outcomes
            continue
        repeated = 0
        out = train_job(study, trial, spec, job, train_fn=train_fn, storage=storage, runtime=runtime,
                        started=started)
        outcomes.append(out)
        _say(bar, worker, summary_line(out, searched, None if bar is not None else worker))


def _say(bar: Progress | None, worker: int, line: str) -> None:
    if bar is not None:
        bar.write(line)
    else:
        print(line, flush=True)
