"""Train one claimed job in its trial, record the result, and tell Optuna.

`train_job` builds the run's config, trains it under the trial's heartbeat, reports the study's
metric after each epoch (the pruner's input), writes the result as trial attributes (the record
schema, `tipsd.model.record`) and finishes the trial: COMPLETE, PRUNED, FAIL (diverged, interrupted
or any other error, with a one-line reason) or, when a racing worker finished the same job first,
a duplicate (`tipsd.sweep.claim`).
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from typing import Any, Callable

from tipsd.model.config import make_config
from tipsd.model.errors import DivergenceError
from tipsd.model.record import result_attrs
from tipsd.sweep import interrupts
from tipsd.sweep.claim import earlier_claim, tell_duplicate
from tipsd.sweep.faults import kill_point
from tipsd.sweep.heartbeat import Heartbeat
from tipsd.sweep.jobs import Job
from tipsd.sweep.spec import StudySpec


@dataclass
class Outcome:
    """What happened to one claimed trial (for the summary line and the benchmark).

    Attributes:
        number: Optuna trial number.
        job: the job the trial held (its weights and seed).
        state: "COMPLETE", "PRUNED", "FAIL" or "DUPLICATE" (a claim that lost a race; not trained).
        value: the metric, if complete.
        train_s: seconds spent inside the training function.
        fit_s: of those, the seconds of its epochs (training and validation; 0 when the result has no
            history): the rest is set-up such as generating the data or building the crop cache.
        total_s: seconds from claim to tell.
        reason: fail/prune reason (one line), or "".
    """

    number: int
    job: Job
    state: str
    value: float | None = None
    train_s: float = 0.0
    fit_s: float = 0.0
    total_s: float = 0.0
    reason: str = ""


def one_line(text: Any) -> str:
    """First line of `text`, at most 300 characters (fail reasons are one line)."""
    lines = str(text).strip().splitlines() or [""]
    return lines[0][:300]


def train_job(study, trial, spec: StudySpec, job: Job, *, train_fn: Callable, storage,
              runtime: dict[str, Any], started: float, weights_store=None) -> Outcome:
    """Train `job` in the claimed `trial`, record its attributes, and tell Optuna the result.

    Args:
        study, trial: the study and the RUNNING trial from `claim`.
        spec: the study spec (preset, overrides, metric).
        job: the job the trial holds.
        train_fn: ``train(config, on_epoch=...) -> TrainResult`` (`tipsd.model.train.train`); it
            calls ``on_epoch(epoch, metrics)``, and ``metrics[spec.metric]`` is reported to the pruner.
        storage: the RDBStorage (for the heartbeat).
        runtime: config overrides that do not change results' meaning (``device``).
        started: ``time.perf_counter()`` when the claim began (for `Outcome.total_s`).
        weights_store: where ``[run] keep_weights`` keeps the trained weights (`tipsd.sweep.keep_weights`;
            None keeps none). Keeping them is never what fails a run: an error is recorded as the
            ``weights_error`` attribute.

    Returns:
        The `Outcome`. Divergence and other exceptions become a FAIL with ``fail_reason``;
        KeyboardInterrupt (Ctrl-C, SIGTERM: see `tipsd.sweep.interrupts`) is recorded as an
        interrupted FAIL and re-raised. A trial that another worker failed as stale meanwhile is left
        as it is (FAIL, job re-queued). `StorageUnavailable` (an outage longer than
        ``storage_retry_s``) propagates with nothing written: the trial is failed as stale later and
        its job re-run, not counted as a failure.
    """
    cfg = job_config(spec, job, runtime)
    reported: set[int] = set()
    on_epoch = epoch_reporter(trial, spec, reported)
    return settle(study, trial, spec, job, storage=storage, started=started, reported=reported,
                  run=lambda: train_fn(cfg, on_epoch=on_epoch), weights_store=weights_store)


def job_config(spec: StudySpec, job: Job, runtime: dict[str, Any]):
    """The `TrainConfig` of `job`: the study's preset and overrides, the job's weights and seed, `runtime`.

    A pruner needs an intermediate value every epoch, so a study with one validates every epoch
    (validation never changes what is trained).
    """
    needs_val = {"val_every": 1} if spec.pruner.get("type", "none") != "none" else {}
    return make_config(spec.preset, {**spec.overrides, **job.gammas, "seed": job.seed, **runtime, **needs_val})


def epoch_reporter(trial, spec: StudySpec, reported: set[int]) -> Callable[[int, dict[str, float]], None]:
    """``on_epoch(epoch, metrics)`` for `trial`: reports the study's metric as the epoch's intermediate
    value (adding the epoch to `reported`) and raises `optuna.TrialPruned` when the pruner says so."""
    import optuna

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        value = float(metrics[spec.metric])  # the study's metric, not always Total
        with interrupts.deferred():  # a stop waits for the storage write to finish
            trial.report(value, int(epoch))
            reported.add(int(epoch))
            prune = trial.should_prune()
        if prune:
            raise optuna.TrialPruned(f"pruned after epoch {epoch} ({spec.metric} {value:.2f})")

    return on_epoch


def settle(study, trial, spec: StudySpec, job: Job, *, storage, started: float, reported: set[int],
           run: Callable[[], Any], weights_store=None) -> Outcome:
    """Call ``run()`` (the training, returning a `TrainResult`) under the trial's heartbeat, record
    its result and tell Optuna; see `train_job` for what each outcome becomes.

    `reported` holds the epochs whose intermediate value is already stored; `run` may also raise
    the exception that ended the training (a batched member's error is re-raised here);
    `weights_store` as in `train_job`.
    """
    import optuna
    from optuna.trial import TrialState

    from tipsd.sweep.storage import StorageUnavailable

    out = Outcome(number=trial.number, job=job, state="FAIL")
    t0 = time.perf_counter()
    try:
        try:
            with Heartbeat(storage, trial._trial_id, spec.run["heartbeat_s"] if storage.heartbeat_interval else None):
                try:
                    with interrupts.interruptible():  # pure computation: a stop may land anywhere
                        result = run()
                finally:
                    out.train_s = time.perf_counter() - t0
                out.fit_s = sum(float(h.get("seconds", 0.0)) for h in getattr(result, "history", None) or [])
                value = float(result.metrics[spec.metric])
                _record_result(trial, result, spec.metric, reported)
                kill_point("report")
                if not math.isfinite(value):
                    raise DivergenceError(-1, f"metric {spec.metric}", value)
                rival = earlier_claim(study, trial.number, job, spec)
                if rival is not None:  # a racing worker finished the same job first: keep only one
                    tell_duplicate(study, trial, rival)
                    out.state, out.reason = "DUPLICATE", f"duplicate of trial {rival}"
                else:
                    _keep_weights(study, trial, spec, job, value, result, weights_store, before_tell=True)
                    study.tell(trial, value)
                    out.state, out.value = "COMPLETE", value
                    _keep_weights(study, trial, spec, job, value, result, weights_store, before_tell=False)
        except optuna.TrialPruned as err:
            trial.set_user_attr("prune_reason", one_line(err))
            study.tell(trial, state=TrialState.PRUNED)
            out.state, out.reason = "PRUNED", one_line(err)
        except DivergenceError as err:
            out.reason = one_line(err)
            trial.set_user_attr("diverged", True)
            trial.set_user_attr("fail_reason", out.reason)
            study.tell(trial, state=TrialState.FAIL)
        except KeyboardInterrupt:
            tell_interrupted(study, trial)
            raise
        except StorageUnavailable:
            raise
        except Exception as err:  # the sweep goes on; the job is retried up to run.max_retries times
            out.reason = one_line(f"{type(err).__name__}: {err}")
            trial.set_user_attr("fail_reason", out.reason)
            study.tell(trial, state=TrialState.FAIL)
    except StorageUnavailable:
        raise
    except Exception:
        if not storage.get_trial(trial._trial_id).state.is_finished():
            raise
        # Another worker failed this trial as stale (no heartbeat for grace_s) while it trained: it
        # is already FAIL and its job re-queued by the ledger, so leave it as it is.
        out.state, out.reason = "FAIL", "failed as stale by another worker (no heartbeat); job re-queued"
    out.total_s = time.perf_counter() - started
    return out


def _keep_weights(study, trial, spec: StudySpec, job: Job, value: float, result, store, *, before_tell: bool) -> None:
    """Upload the run's weights (before the tell) or prune its cell's other files (after it)."""
    if store is None:
        return
    from tipsd.model.record import cell_key
    from tipsd.sweep import keep_weights

    try:
        if before_tell:
            keep_weights.keep(study, trial, spec, cell_key(job.gammas), value, getattr(result, "weights", None),
                              result.config, store)
        else:
            keep_weights.prune_cell(study, spec, cell_key(job.gammas), store)
    except OSError as err:  # a full disk costs the figures, not the run
        if before_tell:
            trial.set_user_attr("weights_error", one_line(f"{type(err).__name__}: {err}"))


# The fail_reason of a worker's trial when the `tipsd run` process that started it died: the kernel's
# SIGTERM (PR_SET_PDEATHSIG) says nothing about how it died (kill -9, out of memory, a crash).
PARENT_DIED = "the `tipsd run` process of this worker died (killed or crashed); worker stopped"
# Seconds a worker stopped by SIGTERM waits to see its parent gone: the kernel sends that SIGTERM
# when the parent's spawning thread exits, which can come before its last thread does (measured:
# one of two workers still saw its parent's pid when the parent was killed with kill -9).
PARENT_DEATH_WAIT_S = 1.0


def interrupt_reason() -> str:
    """The ``fail_reason`` of an interrupted trial: what stopped it, as far as it is known (the
    signal's name only when this process or its parent received it)."""
    name = interrupts.stop_requested()
    if interrupts.parent_died(wait_s=PARENT_DEATH_WAIT_S if name == "SIGTERM" else 0.0):
        return PARENT_DIED
    return f"stopped by {name} (scheduler or kill)" if name == "SIGTERM" else "interrupted by the user"


def tell_interrupted(study, trial) -> None:
    """Finish `trial` as FAIL ``interrupted`` with its reason (not counted; its job is re-run).

    The attributes go first: a worker killed before the state change leaves a RUNNING trial marked
    interrupted, which the ledger already ignores and the heartbeat check fails later.
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    with contextlib.suppress(UpdateFinishedTrialError):
        trial.set_user_attr("interrupted", True)
        trial.set_user_attr("fail_reason", interrupt_reason())
        study.tell(trial, state=TrialState.FAIL)


def _record_result(trial, result, metric: str, reported: set[int]) -> None:
    """Write the TrainResult as flat user attrs and, for any epoch not yet reported whose history row
    holds the study's `metric`, that value as the epoch's intermediate value."""
    for key, value in result_attrs(result).items():  # NaN/Inf are stored as null (record.storable)
        trial.set_user_attr(key, value)
    for row in result.history or []:
        if int(row["epoch"]) not in reported and math.isfinite(float(row.get(metric, math.nan))):
            trial.report(float(row[metric]), int(row["epoch"]))


__all__ = ["Outcome", "epoch_reporter", "interrupt_reason", "job_config", "one_line", "settle", "tell_interrupted",
           "train_job"]
