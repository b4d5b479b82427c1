"""Run a study: create or resume it, then let one or more workers claim and train missing jobs.

Every worker runs `worker_loop`: fail dead workers' trials (heartbeat), read the ledger, claim a
missing job, train it, repeat; when nothing is missing it waits for running trials (which may fail
and come back) and stops when the ledger is finished. Because the ledger is derived from the stored
trials, the same loop serves a first run, a restart after an interruption, local workers
(``--workers N``: N processes this module starts and watches) and workers on many machines sharing
one PostgreSQL URL.

Stopping: Ctrl-C or SIGTERM asks every worker to stop (`tipsd.sweep.interrupts`); each ends its
trial in flight as FAIL ``interrupted`` within seconds, and the call raises `KeyboardInterrupt`.
A worker process that dies (killed) leaves its trial to the heartbeat check; the others carry on.
"""
from __future__ import annotations

import os
import queue as queue_mod
import random
import signal
import sys
import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Callable

from tipsd.model.errors import TipsdError
from tipsd.sweep import interrupts
from tipsd.sweep.batch_jobs import looped, pick_group, resolve_batch_trials, train_jobs_batched
from tipsd.sweep.claim import claim
from tipsd.sweep.faults import kill_point
from tipsd.sweep.heartbeat import fail_stale
from tipsd.sweep.jobs import RETRY_FROM, Ledger, ledger, retry_from
from tipsd.sweep.companion import BackgroundSync
from tipsd.sweep.keep_weights import weights_store
from tipsd.sweep.progress import Poller, Progress, summary_line
from tipsd.sweep.spec import StudySpec
from tipsd.sweep.storage import create_or_resume, open_storage, study_exists
from tipsd.sweep.train_job import Outcome, tell_interrupted, train_job

# Seconds between looks at the storage while only other workers' trials are running.
POLL_S = 1.0
# A Bayesian sampler that keeps proposing settings already tried (small categorical spaces) stops.
MAX_REPEATED_SAMPLES = 50
# Seconds the parent waits for its workers to record their interrupted trials before killing them.
STOP_WAIT_S = 30.0


class WorkersStopped(TipsdError):
    """Every local worker process stopped before the study was finished (exit code 1)."""

    exit_code = 1


@dataclass
class RunReport:
    """What one `run_study` call did.

    Attributes:
        outcomes: every trial this call's workers finished, in order of finishing.
        ledger: the study's ledger after the run.
        wall_s: wall-clock seconds of the whole call.
        resumed: the study existed before this call.
    """

    outcomes: list[Outcome] = field(default_factory=list)
    ledger: Ledger | None = None
    wall_s: float = 0.0
    resumed: bool = False


def _default_train() -> Callable:
    from tipsd.model.train import train

    return train


def _default_train_batched() -> Callable:
    from tipsd.model.train_batched import train_batched

    return train_batched


def check_dataset(spec: StudySpec) -> None:
    """Refuse a study whose dataset folder (``train.overrides.data``) has annotation files that cannot
    be used, before any trial exists: every annotation file parses and validates, and every image it
    lists exists. Images are not decoded (that is `tipsd data check`'s full check): on the quick
    synthetic dataset this takes a fraction of the full statistics' time (docs/sweep.md).

    Raises:
        DataError: one line naming the folder, how many files are unusable and the first one's reason.
            Without this check every run would fail on the same file ``max_retries`` times.
    """
    data = spec.overrides.get("data")
    if not isinstance(data, str) or data.startswith("synth:"):
        return  # generated data is checked by its generator
    from tipsd.model.data import dataset_problem, dataset_stats
    from tipsd.model.errors import DataError

    root = Path(data).expanduser()
    problem = dataset_problem(root, dataset_stats(root, check_images="exist"),
                              where=f"`tipsd data check {data}` lists them")
    if problem is not None:
        raise DataError(problem)


def run_study(spec: StudySpec, storage_url: str, *, workers: int = 1, device: str | None = None,
              train_fn: Callable | None = None, version: str = "", progress: bool = True,
              retry_failed: bool = False, say: Callable[[str], None] | None = None,
              batch_trials: int | str = 1, batch_fn: Callable | None = None) -> RunReport:
    """Create or resume `spec`'s study in `storage_url` and run it until every job is settled.

    Args:
        spec: the validated study spec.
        storage_url: Optuna storage URL.
        workers: local worker processes; each gets ``cores // workers`` torch threads.
        device: training device override ("cpu", "cuda", ...), or None for the preset's.
        train_fn: the training function (default `tipsd.model.train.train`); injectable for tests.
        version: tipsd version recorded in the study and every trial.
        progress: show the tqdm bar.
        retry_failed: give jobs that were given up (and every job's failure count) a fresh
            ``max_retries`` budget, for when the cause of the failures has been fixed.
        say: where informational lines go ("resuming: ...", worker deaths); default stdout.
        batch_trials: settings each worker trains together on one batch stream (an int >= 1, or
            "auto": from the free GPU memory, 1 on the CPU); see `tipsd.sweep.batch_jobs`.
        batch_fn: the batched training function (default `tipsd.model.train_batched.train_batched`,
            or `train_fn` looped when only `train_fn` is injected).

    Returns:
        A `RunReport`. Raises `KeyboardInterrupt` after a Ctrl-C/SIGTERM (every trial in flight
        marked interrupted), `StorageUnavailable` after an outage longer than ``storage_retry_s``.

    Example:
        >>> run_study(load_spec("studies/smoke.toml"), "sqlite:///tipsd.db").ledger.finished  # doctest: +SKIP
        True
    """
    t0 = time.perf_counter()
    say = say or (lambda line: print(line, flush=True))
    check_dataset(spec)  # before the storage is opened: a bad dataset stores nothing
    storage = open_storage(storage_url, heartbeat_s=spec.run["heartbeat_s"], grace_s=spec.run["grace_s"],
                           retry_s=spec.run["storage_retry_s"])
    kill_point("start")
    report = RunReport(resumed=study_exists(storage, spec.name))
    study = create_or_resume(spec, storage, version)
    if retry_failed:
        study.set_user_attr(RETRY_FROM, len(study.get_trials(deepcopy=False)))
    led = ledger(spec, study.get_trials(deepcopy=False), retry_from(study))
    if report.resumed:
        say(f"resuming: {len(led.done)} of {led.total} runs done")
    bar = Progress(spec.name, led.total, led.settled, enabled=progress, workers=workers)

    companion = BackgroundSync(storage, study)

    def finished(out: Outcome) -> None:  # in this (parent) process, after every finished trial
        bar.finished(out)
        companion.request()

    runtime = runtime_overrides(device, workers)
    batch = resolve_batch_trials(batch_trials, spec, runtime)
    if batch > 1:
        say(f"batched trials: {batch} settings per worker on one batch stream")
    try:
        with interrupts.stop_on_signals():
            if workers <= 1:
                report.outcomes = worker_loop(spec, storage_url, worker=0, runtime=runtime,
                                              train_fn=train_fn, version=version, bar=bar, study=study,
                                              storage=storage, batch=(batch, batch_fn),
                                              on_outcome=lambda out, line: (finished(out), _say(bar, 0, line)))
            else:
                def count() -> tuple[int, int]:
                    now = ledger(spec, study.get_trials(deepcopy=False), retry_from(study))
                    return now.settled, now.total

                with Poller(bar, count):
                    report.outcomes = run_workers(spec, storage_url, workers, runtime=runtime, train_fn=train_fn,
                                                  version=version, say=lambda line: _say(bar, 0, line),
                                                  on_outcome=finished, batch=(batch, batch_fn))
        report.ledger = ledger(spec, study.get_trials(deepcopy=False), retry_from(study))
        bar.set(report.ledger.settled, report.ledger.total)
        companion.close()  # a last sync, waited for: runs other machines finished count too
    finally:
        companion.close(wait=False)  # after an error or Ctrl-C: do not wait for a view
        bar.close()
    report.wall_s = time.perf_counter() - t0
    return report


def runtime_overrides(device: str | None, workers: int) -> dict[str, Any]:
    """Config keys set per run, not per study: only the device. Torch threads are a config key of
    their own (`threads`, 1 in the CPU presets), never derived from `workers`, so that a run gives
    the same value whatever the number of workers (intra-op threads change summation order)."""
    return {"device": device} if device else {}


# ---- local worker processes ----------------------------------------------------------------------

def run_workers(spec: StudySpec, storage_url: str, workers: int, *, runtime: dict[str, Any],
                train_fn: Callable | None, version: str, say: Callable[[str], None],
                on_outcome: Callable[[Outcome], None] | None = None,
                batch: tuple[int, Callable | None] = (1, None)) -> list[Outcome]:
    """Start `workers` processes running `worker_loop`, relay their lines, and wait for them.

    A stop asked of this process (Ctrl-C reaches the whole group; SIGTERM or a SIGINT may reach this
    process alone) is forwarded to every worker as one SIGTERM; workers that have not finished
    their clean-up after `STOP_WAIT_S` are killed. A worker that dies (killed) is reported in one
    line; the others finish the study (its trial is failed by the heartbeat check and re-run).
    `on_outcome` gets each finished trial's `Outcome` (the progress bar's ETA).

    Returns:
        The outcomes of every worker. Raises `KeyboardInterrupt` after a stop, the first worker's
        `TipsdError` (e.g. `StorageUnavailable`) if one ended with an error, and `WorkersStopped`
        if they all died before the study was finished.
    """
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: no forked torch or DB state
    inbox = ctx.Queue()
    reason = ctx.Value("i", 0, lock=False)  # the signal that stopped the parent, for the workers' reasons
    procs = [ctx.Process(target=_worker_process, name=f"tipsd-worker-{i}",
                         args=(spec, storage_url, i, runtime, train_fn, version, inbox, os.getpid(), reason, batch))
             for i in range(workers)]
    with interrupts.children_ignore_sigint():
        for p in procs:
            p.start()
    outcomes: list[Outcome] = []
    errors: list[tuple[str, int]] = []
    reported: set[int] = set()
    stop_deadline: float | None = None
    while True:
        try:
            kind, *payload = inbox.get(timeout=0.3)
        except queue_mod.Empty:
            kind = ""
        if kind == "outcome":
            outcomes.append(payload[0])
            if on_outcome is not None:
                on_outcome(payload[0])
            say(payload[1])
        elif kind == "line":
            say(payload[0])
        elif kind == "error":
            errors.append((payload[0], payload[1]))
        if interrupts.stop_requested() and stop_deadline is None:
            stop_deadline = time.monotonic() + STOP_WAIT_S
            reason.value = int(signal.Signals[interrupts.stop_requested()])
            for p in procs:
                if p.is_alive():
                    _signal(p, signal.SIGTERM)
        if stop_deadline is not None and time.monotonic() > stop_deadline:
            for p in procs:
                if p.is_alive():
                    say(f"worker {procs.index(p)} did not stop within {STOP_WAIT_S:.0f} s; killed "
                        "(its trial is failed by the heartbeat check)")
                    p.kill()
            stop_deadline = float("inf")
        for i, p in enumerate(procs):
            if i not in reported and not p.is_alive() and p.exitcode is not None:
                reported.add(i)
                if p.exitcode < 0 and stop_deadline is None:
                    say(f"worker {i} was killed ({_signal_name(-p.exitcode)}); its trial is failed by the "
                        f"heartbeat check after {spec.run['grace_s']} s and re-run by another worker")
        if len(reported) == len(procs) and kind == "":
            break
    for p in procs:
        p.join()
    inbox.close()
    if stop_deadline is not None:
        raise KeyboardInterrupt
    if errors:
        raise _WorkerError(errors[0][0], errors[0][1])
    if all(p.exitcode != 0 for p in procs):
        raise WorkersStopped(f"all {len(procs)} workers stopped before the study was finished "
                             f"(exit codes {[p.exitcode for p in procs]}); `tipsd run` again resumes it")
    return outcomes


class _WorkerError(TipsdError):
    """A worker process ended with a one-line error (its message and exit code, as the worker had them)."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def _signal(proc, sig: int) -> None:
    try:
        os.kill(proc.pid, sig)
    except (ProcessLookupError, TypeError):
        pass


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _worker_process(spec: StudySpec, storage_url: str, worker: int, runtime: dict[str, Any],
                    train_fn: Callable | None, version: str, inbox, parent_pid: int, reason,
                    batch: tuple[int, Callable | None] = (1, None)) -> None:
    """Body of one local worker process: `worker_loop`, its lines and outcome sent to the parent."""
    from tipsd.model.record import scrub
    from tipsd.sweep.storage import SECRETS, shown

    interrupts.child_setup(reason, parent_pid)
    shown(storage_url)
    code = 0
    with interrupts.stop_on_signals((signal.SIGTERM,)):
        if os.getppid() != parent_pid or reason.value:  # the parent died or stopped while this one started
            interrupts.request_stop(signal.Signals(reason.value or signal.SIGTERM).name)
        try:
            worker_loop(spec, storage_url, worker=worker, runtime=runtime, train_fn=train_fn, version=version,
                        batch=batch, on_outcome=lambda out, line: inbox.put(("outcome", out, line)),
                        on_line=lambda line: inbox.put(("line", line)))
        except KeyboardInterrupt:
            code = 130
        except TipsdError as err:
            inbox.put(("error", scrub(str(err), tuple(SECRETS)), err.exit_code))
            code = err.exit_code
        except Exception as err:  # noqa: BLE001 - reported by the parent as one line
            first = (str(err).strip().splitlines() or [""])[0][:300]
            inbox.put(("error", scrub(f"internal error in worker {worker}: {type(err).__name__}: {first}; "
                                      "this is a bug, please report it", tuple(SECRETS)), 1))
            code = 1
    if os.getppid() != parent_pid:
        inbox.cancel_join_thread()  # nobody reads any more: do not block the exit on a full pipe
    inbox.close()
    sys.exit(code)


# ---- the worker loop ------------------------------------------------------------------------------

def worker_loop(spec: StudySpec, storage_url: str, *, worker: int, runtime: dict[str, Any],
                train_fn: Callable | None = None, version: str = "", bar: Progress | None = None,
                study=None, storage=None, on_outcome: Callable[[Outcome, str], None] | None = None,
                on_line: Callable[[str], None] | None = None,
                batch: tuple[int, Callable | None] = (1, None)) -> list[Outcome]:
    """Claim and train missing jobs until the study's ledger is finished (see module docstring).

    Args:
        spec, storage_url: the study and where it is stored (each worker process connects itself).
        worker: this worker's index (spreads claims, labels its summary lines).
        runtime: per-run config overrides (`runtime_overrides`).
        train_fn: the training function (default `tipsd.model.train.train`).
        version: tipsd version to record.
        bar: the parent's progress bar when running in-process, else None.
        study, storage: an already open study and storage (in-process); opened here if None.
        on_outcome: called with each finished trial's `Outcome` and summary line (worker processes
            send both to the parent); default: print the line.
        on_line: called with other lines (default: print them).
        batch: ``(K, batch_fn)``: claim up to K jobs of one seed and train them together with
            `batch_fn` (`tipsd.sweep.batch_jobs`); K = 1 trains one job at a time.

    Returns:
        The outcomes of the trials this worker finished. Raises `KeyboardInterrupt` when a stop was
        asked for (the trial in flight, if any, finished as interrupted).
    """
    import torch

    from tipsd.sweep.storage import quiet_optuna

    quiet_optuna()
    threads_before = torch.get_num_threads()  # `train` sets the config's threads
    try:
        return _claim_and_train(spec, storage_url, worker, runtime, train_fn, version, bar, study, storage,
                                on_outcome, on_line, batch)
    finally:
        torch.set_num_threads(threads_before)  # in-process callers get their setting back


def _claim_and_train(spec, storage_url, worker, runtime, train_fn, version, bar, study, storage,
                     on_outcome, on_line, batch=(1, None)) -> list[Outcome]:
    """The body of `worker_loop` (same arguments)."""
    import optuna

    from tipsd.sweep.pruners import build_pruner
    from tipsd.sweep.samplers import study_sampler

    if storage is None:
        storage = open_storage(storage_url, heartbeat_s=spec.run["heartbeat_s"], grace_s=spec.run["grace_s"],
                               retry_s=spec.run["storage_retry_s"])
    if study is None:
        study = optuna.load_study(study_name=spec.name, storage=storage, sampler=study_sampler(spec, worker),
                                  pruner=build_pruner(spec.pruner))
    k, batch_fn = batch
    if k > 1 and batch_fn is None:
        batch_fn = looped(train_fn) if train_fn is not None else _default_train_batched()
    train_fn = train_fn or _default_train()
    store = weights_store(spec, storage_url)
    label = None if bar is not None else worker
    say = on_line or (lambda line: _say(bar, worker, line))
    rng = random.Random(f"{os.getpid()}-{worker}-{time.time_ns()}")
    searched = list(spec.space)
    outcomes: list[Outcome] = []
    repeated = 0
    while True:
        interrupts.check()
        fail_stale(study, storage)
        led = ledger(spec, study.get_trials(deepcopy=False), retry_from(study))
        if bar is not None:
            bar.set(led.settled, led.total)
        if not led.missing:
            if not led.running:
                return outcomes
            time.sleep(POLL_S)
            continue
        # Local workers start at different jobs (their index) plus a little randomness for workers
        # on other machines; a collision is harmless anyway (the later claim marks itself duplicate).
        job = led.missing[(worker + rng.randrange(3)) % len(led.missing)]
        started = time.perf_counter()
        claims = []
        for wanted in pick_group(led, job, k, spec) if k > 1 else [job]:
            trial, claimed_job = claim(study, spec, wanted, version, worker=worker)
            if trial is not None:
                claims.append((trial, claimed_job))
        if claims and interrupts.stop_requested():
            for trial, _ in claims:
                tell_interrupted(study, trial)  # claimed while the stop arrived: end them before training
            raise KeyboardInterrupt
        if not claims:
            repeated += 1
            if job.new_sample and repeated > MAX_REPEATED_SAMPLES:
                say(f"{spec.name}: the sampler keeps proposing settings already tried; "
                    f"stopping at {led.cells_sampled} settings")
                return outcomes
            continue
        repeated = 0
        if k > 1:
            finished = train_jobs_batched(study, claims, spec, batch_fn=batch_fn, storage=storage, runtime=runtime,
                                          started=started)
        else:
            (trial, job), = claims
            finished = [train_job(study, trial, spec, job, train_fn=train_fn, storage=storage, runtime=runtime,
                                  started=started, weights_store=store)]
        for out in finished:
            outcomes.append(out)
            line = summary_line(out, searched, label)
            if on_outcome is not None:
                on_outcome(out, line)
            else:
                _say(bar, worker, line)


def _say(bar: Progress | None, worker: int, line: str) -> None:
    if bar is not None:
        bar.write(line)
    else:
        print(line, flush=True)
