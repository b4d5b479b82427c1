"""Job bookkeeping: which (γ vector, seed) runs a study still needs, read from its trials.

A *job* is one (cell, seed) pair; its key is ``"<cell>|seed=<n>"`` and every tipsd trial stores it
as the ``job`` user attribute. The state of each job is derived from the stored trials alone, so any
number of workers on any machines agree on what is missing without talking to each other:

- done: a COMPLETE or PRUNED trial, or a FAIL that diverged (NaN/Inf is a result, not a fault:
  the same seed would diverge again, so it is not retried);
- running: a RUNNING trial (a dead worker's trial is failed by the heartbeat check first);
- exhausted: more than ``max_retries`` failed runs, counting only failures since the last
  ``tipsd run --retry-failed`` (the study attribute `RETRY_FROM`);
- missing: none of the above; a worker may claim it.

A *failed* run is a FAIL trial whose training raised (it has a ``fail_reason``). A FAIL trial without
one was *lost*: its worker died from outside (killed, machine gone, storage outage) and the
heartbeat check failed it; it says nothing about the job, so it is re-run without counting against
``max_retries``. Trials marked ``duplicate_of`` (a claim that lost a race) and ``interrupted``
(Ctrl-C, SIGTERM) are ignored.

Racing studies (``seeds = { min, max }``, docs/racing.md) want only the jobs the race needs now:
the ledger replays the race (`tipsd.analysis.racing.racing_state`) from the settled jobs' values
(done: the trial's value, NaN when pruned or diverged; exhausted: NaN), so a worker killed after
storing a run leaves no decision behind: the next ledger makes it again from what is stored.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import math

from tipsd.analysis.racing import RaceState, SettingState, race_matrix, racing_state, setting_state
from tipsd.model.record import GAMMA_NAMES, cell_key, job_key
from tipsd.sweep.spec import StudySpec

# Study attribute: failures of trials numbered below it do not count (`tipsd run --retry-failed`).
RETRY_FROM = "tipsd.retry_failed_from"


@dataclass
class Job:
    """One (γ vector, seed) run of a study.

    Attributes:
        gammas: all five weights.
        seed: the training seed.
        params: the searched weights as Optuna params (empty for a new Bayesian sample).
        distributions: the params' Optuna distributions.
        new_sample: True when the sampler must propose the γ vector (Bayesian studies).
    """

    gammas: dict[str, float]
    seed: int
    params: dict[str, Any] = field(default_factory=dict)
    distributions: dict[str, Any] = field(default_factory=dict)
    new_sample: bool = False

    @cached_property
    def cell(self) -> str:
        """The γ vector's key (`tipsd.model.record.cell_key`)."""
        return cell_key(self.gammas)

    @cached_property
    def key(self) -> str:
        """The job key stored in the trial's ``job`` user attribute."""
        return job_key(self.cell, self.seed)


@dataclass
class Ledger:
    """What a study's trials say about its jobs.

    Attributes:
        total: jobs the study aims for (cells × seeds; budget × seeds for Bayesian studies). A racing
            study's current plan instead (`race_plan`): the settled runs, the runs the race needs
            now (missing or running), and ``min`` seeds for each setting a Bayesian study has still
            to propose; it grows as rounds are decided, up to cells × ``max``.
        done: job key -> number of the trial that settled it.
        completed: the done job keys whose trial is COMPLETE (not pruned or diverged).
        running: job key -> numbers of its RUNNING trials.
        failures: job key -> count of failed tries that count against max_retries (diverged,
            duplicate, interrupted and lost trials excluded, and those before `RETRY_FROM`).
        lost: job key -> count of tries whose worker died from outside (failed by heartbeat).
        exhausted: job keys that failed more than max_retries times.
        missing: jobs to claim, in priority order.
        cells_sampled: distinct cells a Bayesian study has proposed so far.
        values: settled job key -> ``(cell, seed, value)``; value NaN when settled without one
            (pruned, diverged, retries exhausted). What a race is decided from.
        race: a racing grid study's `RaceState` (None otherwise).
        settings_race: a racing Bayesian study's cell -> `SettingState` of each proposed setting.
        first_trials: cell -> its first counted trial (a Bayesian study's proposal: its params and
            distributions are what the sampler suggested).
    """

    total: int
    done: dict[str, int] = field(default_factory=dict)
    completed: set[str] = field(default_factory=set)
    running: dict[str, list[int]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    lost: dict[str, int] = field(default_factory=dict)
    exhausted: list[str] = field(default_factory=list)
    missing: list[Job] = field(default_factory=list)
    cells_sampled: int = 0
    values: dict[str, tuple[str, int, float]] = field(default_factory=dict)
    race: RaceState | None = None
    settings_race: dict[str, SettingState] = field(default_factory=dict)
    first_trials: dict[str, Any] = field(default_factory=dict)

    @property
    def settled(self) -> int:
        """Jobs that need no more work (done or exhausted)."""
        return len(self.done) + len(self.exhausted)

    @property
    def finished(self) -> bool:
        """True when nothing is missing and nothing is running."""
        return not self.missing and not self.running


def is_counted(trial) -> bool:
    """False for trials the bookkeeping ignores (lost claim races, user interrupts, foreign trials)."""
    attrs = trial.user_attrs
    return "job" in attrs and "duplicate_of" not in attrs and not attrs.get("interrupted", False)


def is_lost(trial) -> bool:
    """A FAIL trial failed from outside (no ``fail_reason``: its worker died), not by its training."""
    from optuna.trial import TrialState

    return trial.state == TrialState.FAIL and "fail_reason" not in trial.user_attrs


def ledger(spec: StudySpec, trials: list, retry_from: int = 0) -> Ledger:
    """Derive every job's state from a study's trials (see the module docstring).

    Args:
        spec: the study's spec (its cells, seeds and retry bound).
        trials: ``study.get_trials(deepcopy=False)``.
        retry_from: failures of trials numbered below this do not count (the study's `RETRY_FROM`).

    Returns:
        The `Ledger`.

    Example:
        >>> ledger(spec, study.get_trials(deepcopy=False)).missing[:1]  # doctest: +SKIP
    """
    from optuna.trial import TrialState

    led = Ledger(total=spec.total_jobs())
    max_retries = spec.run["max_retries"]
    first_of_cell: dict[str, Any] = {}
    for t in sorted(trials, key=lambda t: t.number):
        if not is_counted(t):
            continue
        key = t.user_attrs["job"]
        cell = t.user_attrs.get("cell", "")
        first_of_cell.setdefault(cell, t)
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
                t.state == TrialState.FAIL and t.user_attrs.get("diverged", False)):
            if key not in led.done:
                value = float(t.value) if t.state == TrialState.COMPLETE else math.nan
                led.values[key] = (cell, int(t.user_attrs.get("seed", -1)), value)
            led.done.setdefault(key, t.number)
            if t.state == TrialState.COMPLETE:
                led.completed.add(key)
        elif t.state == TrialState.RUNNING:
            led.running.setdefault(key, []).append(t.number)
        elif is_lost(t):
            led.lost[key] = led.lost.get(key, 0) + 1
        elif t.state == TrialState.FAIL and t.number >= retry_from:
            led.failures[key] = led.failures.get(key, 0) + 1
            if led.failures[key] > max_retries:  # given up: settled without a value
                led.values.setdefault(key, (cell, int(t.user_attrs.get("seed", -1)), math.nan))
    led.first_trials = first_of_cell
    for key in list(led.running):
        if key in led.done:  # a late duplicate still running; the job itself is done
            del led.running[key]

    if spec.is_grid and spec.racing is not None:
        wanted = _raced_grid_jobs(spec, led)
    elif spec.is_grid:
        wanted = _grid_jobs(spec)
    elif spec.racing is not None:
        wanted = _raced_sampled_jobs(spec, first_of_cell, led)
        led.cells_sampled = len(first_of_cell)
    else:
        wanted = _sampled_jobs(spec, first_of_cell, led)
        led.cells_sampled = len(first_of_cell)
    for job in wanted:
        key = job.key
        if key in led.done or key in led.running:
            continue
        if led.failures.get(key, 0) > max_retries:
            led.exhausted.append(key)
            continue
        led.missing.append(job)
    if not spec.is_grid and led.cells_sampled < spec.budget and not any(j.new_sample for j in led.missing):
        led.missing.append(Job(gammas={}, seed=spec.seeds[0], new_sample=True))
    if spec.racing is not None:
        led.total = race_plan(spec, led)
    return led


def race_plan(spec: StudySpec, led: Ledger) -> int:
    """A racing study's runs as its race plans them now: settled + needed now (missing or running)
    + ``min_seeds`` per setting a Bayesian study has not proposed yet. For a grid study this is the
    race's ``runs_planned`` (every settled run is one the race asked for).

    Example:
        >>> race_plan(spec, ledger(spec, []))  # a 4-cell grid racing from 3 seeds  # doctest: +SKIP
        12
    """
    needed = sum(not j.new_sample for j in led.missing) + len(led.running)
    unproposed = 0 if spec.is_grid else max(spec.budget - led.cells_sampled, 0) * spec.racing.min_seeds
    return led.settled + needed + unproposed


def _grid_jobs(spec: StudySpec) -> list[Job]:
    """Every (cell, seed) of a grid study; seed-major, so a first full replicate finishes first.
    Computed once per spec (the ledger is derived before every claim)."""
    cached = spec.__dict__.get("_grid_jobs")
    if cached is None:
        cached = spec.__dict__["_grid_jobs"] = _enumerate_grid(spec)
    return cached


def _enumerate_grid(spec: StudySpec) -> list[Job]:
    from optuna.distributions import CategoricalDistribution

    dists = {n: CategoricalDistribution(list(v)) for n, v in spec.space.items()}
    jobs = []
    for seed in spec.seeds:
        for gammas in spec.cells():
            params = {n: gammas[n] for n in spec.space}
            jobs.append(Job(gammas=gammas, seed=seed, params=params, distributions=dists))
    return jobs


def _raced_grid_jobs(spec: StudySpec, led: Ledger) -> list[Job]:
    """A racing grid study's jobs needed now: the race replayed from the settled values."""
    by_key = {j.key: j for j in _grid_jobs(spec)}
    cells = spec.__dict__.get("_cell_keys")
    if cells is None:
        cells = spec.__dict__["_cell_keys"] = [cell_key(g) for g in spec.cells()]
    x, settled = race_matrix(led.values.values(), cells, spec.racing)
    led.race = racing_state(x, spec.racing.seeds, spec.racing, spec.direction == "maximize", settled=settled)
    return [by_key[job_key(cells[c], seed)] for c, seed in led.race.jobs]


def _raced_sampled_jobs(spec: StudySpec, first_of_cell: dict[str, Any], led: Ledger) -> list[Job]:
    """A racing Bayesian study's jobs: each proposed setting races the incumbent (`setting_state`).

    The incumbent is the setting with the best mean among those that finished at ``max`` seeds (the
    study's first settings, having none to race, all run to ``max``). Its mean only improves as
    settings finish, so a setting's answer is re-derived from storage each time like the grid's."""
    import numpy as np

    higher = spec.direction == "maximize"
    rows: dict[str, list[float]] = {}
    gone: dict[str, list[bool]] = {}
    for cell, seed, value in led.values.values():
        if 0 <= seed < spec.racing.max_seeds:
            rows.setdefault(cell, [math.nan] * spec.racing.max_seeds)[seed] = value
            gone.setdefault(cell, [False] * spec.racing.max_seeds)[seed] = True
    finished = {c: v for c, v in rows.items() if all(gone[c]) and np.isfinite(v).any()}
    incumbent = None
    if finished:
        pick = max if higher else min
        incumbent = finished[pick(finished, key=lambda c: float(np.nanmean(finished[c])))]
    jobs = []
    for cell, t in first_of_cell.items():
        gammas = {n: float(t.user_attrs[n]) for n in GAMMA_NAMES}
        st = setting_state(rows.get(cell, []), incumbent, spec.racing, higher, settled=gone.get(cell))
        led.settings_race[cell] = st
        first_value = rows.get(cell, [math.nan])[0]
        if gone.get(cell, [False])[0] and not math.isfinite(first_value):
            continue  # a pruned or diverged first run: the setting is not replicated (as without racing)
        for seed in st.jobs:
            jobs.append(Job(gammas=gammas, seed=seed, params=dict(t.params), distributions=dict(t.distributions)))
    return jobs


def _sampled_jobs(spec: StudySpec, first_of_cell: dict[str, Any], led: Ledger) -> list[Job]:
    """Jobs of a Bayesian study: each proposed cell's first seed, and its other seeds once that
    first run completed (a pruned or diverged setting is not replicated)."""
    jobs = []
    for cell, t in first_of_cell.items():
        gammas = {n: float(t.user_attrs[n]) for n in GAMMA_NAMES}
        replicate = job_key(cell, spec.seeds[0]) in led.completed
        for seed in spec.seeds if replicate else spec.seeds[:1]:
            jobs.append(Job(gammas=gammas, seed=seed, params=dict(t.params), distributions=dict(t.distributions)))
    return jobs


def retry_from(study) -> int:
    """The study's `RETRY_FROM` (0 when `tipsd run --retry-failed` was never used)."""
    value = study.user_attrs.get(RETRY_FROM, 0)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0
