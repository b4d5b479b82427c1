"""Claim one job as an Optuna trial, train it, and record everything the storage schema asks for.

The driver uses ask/tell (not ``study.optimize``) because it chooses the job itself; so it also runs
the trial's heartbeat itself (`Heartbeat`), which is what lets a later worker fail the trial of a
killed worker as stale and run the job again.
"""
from __future__ import annotations

import contextlib
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from tipsd.model.config import make_config
from tipsd.model.errors import DivergenceError
from tipsd.model.record import result_attrs, run_attrs
from tipsd.sweep.jobs import Job, is_counted
from tipsd.sweep.spec import StudySpec


@dataclass
class Outcome:
    """What happened to one claimed trial (for the summary line and the benchmark).

    Attributes:
        number: Optuna trial number.
        job: the job key (``"<cell>|seed=<n>"``).
        state: "COMPLETE", "PRUNED", "FAIL" or "DUPLICATE" (a claim that lost a race; not trained).
        value: the metric, if complete.
        train_s: seconds spent inside the training function.
        total_s: seconds from claim to tell.
        reason: fail/prune reason (one line), or "".
    """

    number: int
    job: str
    state: str
    value: float | None = None
    train_s: float = 0.0
    total_s: float = 0.0
    reason: str = ""


class Heartbeat:
    """Records a trial's heartbeat every `interval` seconds in a background thread while in use.

    Example:
        >>> with Heartbeat(storage, trial_id, 10):  # doctest: +SKIP
        ...     train(...)
    """

    def __init__(self, storage, trial_id: int, interval: int | None):
        self._storage, self._trial_id, self._interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _beat(self) -> None:
        while True:
            try:
                self._storage.record_heartbeat(self._trial_id)
            except Exception:  # a missed beat is harmless; the next one retries
                pass
            if self._stop.wait(self._interval):
                return

    def __enter__(self) -> "Heartbeat":
        if self._interval:
            self._storage.record_heartbeat(self._trial_id)  # stale check needs a first beat now
            self._thread = threading.Thread(target=self._beat, daemon=True, name="tipsd-heartbeat")
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def base_attrs(spec: StudySpec, job: Job, version: str) -> dict[str, Any]:
    """User attributes known before training (`tipsd.model.record.run_attrs`)."""
    return run_attrs(job.gammas, job.seed, preset=spec.preset, version=version)


def claim(study, spec: StudySpec, job: Job, version: str):
    """Create a RUNNING trial for `job`; returns ``(trial, job)`` or ``(None, job)`` if the claim lost a race.

    Grid and replicate jobs become a trial with their params and attributes in one write, so the
    trial number orders competing claims: a claim that sees an earlier live or settled trial of the
    same job marks itself ``duplicate_of`` and is finished as FAIL without training.
    A new Bayesian sample asks the sampler (``study.ask``) and suggests the weights from the space.
    """
    import optuna
    from optuna.trial import TrialState

    if job.new_sample:
        trial = study.ask()
        gammas = suggest_gammas(trial, spec)
        job = Job(gammas=gammas, seed=spec.seeds[0], params=dict(trial.params), new_sample=True)
        for key, value in base_attrs(spec, job, version).items():
            trial.set_user_attr(key, value)
    else:
        template = optuna.trial.create_trial(
            state=TrialState.RUNNING, params=job.params, distributions=job.distributions,
            user_attrs=base_attrs(spec, job, version))
        # Study has no public "create a running trial with these params and attrs"; the storage API
        # does, in one transaction (study._storage/_study_id are the study's own handles).
        trial_id = study._storage.create_new_trial(study._study_id, template_trial=template)
        trial = optuna.trial.Trial(study, trial_id)
    if study._storage.get_heartbeat_interval():
        # Optuna's stale check only fails trials that have a heartbeat: beat at once, so a worker
        # killed between this claim and the start of training still leaves a trial that is failed.
        study._storage.record_heartbeat(trial._trial_id)
    rival = _earlier_claim(study, trial.number, job.key, spec)
    if rival is not None:
        _tell_duplicate(study, trial, rival)
        return None, job
    return trial, job


def _earlier_claim(study, number: int, key: str, spec: StudySpec) -> int | None:
    """Number of another live or settled trial of job `key` that wins over trial `number`, if any."""
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False):
        if t.number == number or not is_counted(t) or t.user_attrs.get("job") != key:
            continue
        if t.state == TrialState.RUNNING and t.number < number:
            return t.number
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
                t.state == TrialState.FAIL and t.user_attrs.get("diverged", False)):
            return t.number
    if not spec.is_grid and key.endswith(f"|seed={spec.seeds[0]}"):
        # A Bayesian study proposes at most `budget` settings, even with racing workers.
        firsts = sorted({t.user_attrs.get("cell"): t.number for t in reversed(study.get_trials(deepcopy=False))
                         if is_counted(t)}.values())
        if number in firsts and firsts.index(number) >= spec.budget:
            return firsts[spec.budget - 1]
    return None


def _tell_duplicate(study, trial, rival: int) -> None:
    import optuna

    trial.set_user_attr("duplicate_of", rival)
    trial.set_user_attr("fail_reason", f"duplicate claim: trial {rival} already has this job")
    study.tell(trial, state=optuna.trial.TrialState.FAIL)


def suggest_gammas(trial, spec: StudySpec) -> dict[str, float]:
    """Suggest every searched weight from `spec.space`; returns all five weights.

    A range with ``include_zero`` is two params: ``<name>_is_zero`` (categorical True/False) and,
    only when it is False, ``<name>`` from the (log-)range; so "term off" is one clean choice the
    sampler can learn, and the log scale stays valid for the non-zero values.
    """
    searched: dict[str, float] = {}
    for name, dom in spec.space.items():
        if isinstance(dom, list):
            searched[name] = float(trial.suggest_categorical(name, dom))
        elif dom.include_zero and trial.suggest_categorical(f"{name}_is_zero", [False, True]):
            searched[name] = 0.0
        else:
            searched[name] = trial.suggest_float(name, dom.low, dom.high, log=dom.log)
    return spec.full_gammas(searched)


def one_line(text: Any) -> str:
    """First line of `text`, at most 300 characters (fail reasons are one line)."""
    lines = str(text).strip().splitlines() or [""]
    return lines[0][:300]


def run_trial(study, trial, spec: StudySpec, job: Job, *, train_fn: Callable, storage,
              runtime: dict[str, Any], started: float) -> Outcome:
    """Train `job` in the claimed `trial`, record its attributes, and tell Optuna the result.

    Args:
        study, trial: the study and the RUNNING trial from `claim`.
        spec: the study spec (preset, overrides, metric).
        job: the job the trial holds.
        train_fn: ``train(config, on_epoch=...) -> TrainResult`` (`tipsd.model.train.train`); it
            calls ``on_epoch(epoch, metrics)``, and ``metrics[spec.metric]`` is reported to the pruner.
        storage: the RDBStorage (for the heartbeat).
        runtime: config overrides that do not change results' meaning (``device``, ``threads``).
        started: ``time.perf_counter()`` when the claim began (for `Outcome.total_s`).

    Returns:
        The `Outcome`. Divergence and other exceptions become a FAIL with ``fail_reason``;
        KeyboardInterrupt is recorded as an interrupted FAIL and re-raised. A trial that another
        worker failed as stale meanwhile is left as it is (FAIL, job re-queued).
    """
    import optuna
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    cfg = make_config(spec.preset, {**spec.overrides, **job.gammas, "seed": job.seed, **runtime})

    reported: set[int] = set()

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        value = float(metrics[spec.metric])  # the study's metric, not always Total
        trial.report(value, int(epoch))
        reported.add(int(epoch))
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {epoch} ({spec.metric} {value:.2f})")

    out = Outcome(number=trial.number, job=job.key, state="FAIL")
    t0 = time.perf_counter()
    try:
        try:
            with Heartbeat(storage, trial._trial_id, spec.run["heartbeat_s"] if storage.heartbeat_interval else None):
                try:
                    result = train_fn(cfg, on_epoch=on_epoch)
                finally:
                    out.train_s = time.perf_counter() - t0
                value = float(result.metrics[spec.metric])
                _record_result(trial, result, spec.metric, reported)
                if not math.isfinite(value):
                    raise DivergenceError(-1, f"metric {spec.metric}", value)
                rival = _earlier_claim(study, trial.number, job.key, spec)
                if rival is not None:  # a racing worker finished the same job first: keep only one
                    _tell_duplicate(study, trial, rival)
                    out.state, out.reason = "DUPLICATE", f"duplicate of trial {rival}"
                else:
                    study.tell(trial, value)
                    out.state, out.value = "COMPLETE", value
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
            with contextlib.suppress(UpdateFinishedTrialError):
                trial.set_user_attr("interrupted", True)
                trial.set_user_attr("fail_reason", "interrupted by the user")
                study.tell(trial, state=TrialState.FAIL)
            raise
        except Exception as err:  # the sweep goes on; the job is retried up to run.max_retries times
            out.reason = one_line(f"{type(err).__name__}: {err}")
            trial.set_user_attr("fail_reason", out.reason)
            study.tell(trial, state=TrialState.FAIL)
    except Exception:
        if not storage.get_trial(trial._trial_id).state.is_finished():
            raise
        # Another worker failed this trial as stale (no heartbeat for grace_s) while it trained: it
        # is already FAIL and its job re-queued by the ledger, so leave it as it is.
        out.state, out.reason = "FAIL", "failed as stale by another worker (no heartbeat); job re-queued"
    out.total_s = time.perf_counter() - started
    return out


def _record_result(trial, result, metric: str, reported: set[int]) -> None:
    """Write the TrainResult as flat user attrs and, for any epoch not yet reported whose history row
    holds the study's `metric`, that value as the epoch's intermediate value."""
    for key, value in result_attrs(result).items():  # NaN/Inf are stored as null (record.storable)
        trial.set_user_attr(key, value)
    for row in result.history or []:
        if int(row["epoch"]) not in reported and math.isfinite(float(row.get(metric, math.nan))):
            trial.report(float(row[metric]), int(row["epoch"]))


__all__ = ["Heartbeat", "Outcome", "base_attrs", "claim", "run_trial", "suggest_gammas"]
