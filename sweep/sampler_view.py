"""What a model-based sampler (TPE, GP) of a Bayesian study is shown: one trial per proposed setting,
valued with its mean over seeds once the setting needs no more runs.

A Bayesian study trains each proposed setting on several seeds (a fixed list, or as many as its race
against the incumbent asks: docs/racing.md). Asking the sampler on the stored study would show it
every (setting, seed) run as an observation of its own: a setting with 4 seeds would weigh 4 times,
and a setting still racing would be judged on its first seed. Instead a proposal is asked of an
in-memory study holding one trial per setting proposed so far (`view_trials`), with the params and
distributions of the setting's first trial:

- COMPLETE, value = the mean of its finite values over the seeds it needs (racing: seeds
  ``0 .. n − 1`` of its `SettingState` once finished, so a stray later run is not read; without
  racing: every seed of the list, once all are settled). Settled without any value: FAIL.
- PRUNED (with the pruned run's intermediate values: TPE ranks pruned trials by their last step) or
  FAIL (diverged, given up) when its first run has no value: it gets no further seeds.
- RUNNING while it still needs runs (TPE's constant liar, on by default in Optuna 5, steers the
  next proposal away from it; GP ignores it).

`propose` asks that view and returns the job; `tipsd.sweep.claim` then stores it as a RUNNING trial
with the proposal's params, distributions and run attributes in one write, as a grid job. Random and
QMC samplers ignore the history (and QMC's counter lives in the stored study): they keep asking the
stored study (`sees_setting_means`).
"""
from __future__ import annotations

import math
import random
from typing import Any

from tipsd.model.record import job_key
from tipsd.sweep.jobs import Job, Ledger, ledger, retry_from
from tipsd.sweep.samplers import sampler_named, suggest_gammas
from tipsd.sweep.spec import StudySpec

MODEL_BASED = ("tpe", "gp")  # samplers that learn from the history, so they are shown setting means


def sees_setting_means(spec: StudySpec) -> bool:
    """True when new samples of `spec` are asked of the per-setting view (tpe, gp; not grid studies)."""
    return not spec.is_grid and spec.sampler in MODEL_BASED


def setting_outcome(spec: StudySpec, led: Ledger, cell: str, by_number: dict[int, Any]):
    """``(state, value, n, intermediate_values)`` of one proposed setting for the sampler's view.

    Args:
        spec: the study's spec (its seeds, its race).
        led: the study's `Ledger` (settled values, each racing setting's `SettingState`).
        cell: the setting's cell key.
        by_number: trial number -> trial (to read a pruned first run's intermediate values).

    Returns:
        ``state`` a `TrialState`; ``value`` the mean of the ``n`` finite values (None unless COMPLETE).

    Example:
        >>> setting_outcome(spec, led, cell, {t.number: t for t in trials})  # doctest: +SKIP
        (<TrialState.COMPLETE: 1>, 52.25, 4, {})
    """
    from optuna.trial import TrialState

    first = job_key(cell, spec.seeds[0])
    if first in led.values and not math.isfinite(led.values[first][2]):
        settled_by = by_number.get(led.done.get(first, -1))
        if settled_by is not None and settled_by.state == TrialState.PRUNED:
            return TrialState.PRUNED, None, 0, dict(settled_by.intermediate_values)
        return TrialState.FAIL, None, 0, {}  # diverged, or given up after max_retries
    if spec.racing is not None:
        st = led.settings_race.get(cell)
        if st is None or not st.finished:
            return TrialState.RUNNING, None, 0, {}
        seeds = spec.seeds[:st.n]
    else:
        seeds = spec.seeds
        if any(job_key(cell, s) not in led.values for s in seeds):
            return TrialState.RUNNING, None, 0, {}
    found = [led.values[k][2] for k in (job_key(cell, s) for s in seeds) if k in led.values]
    found = [v for v in found if math.isfinite(v)]
    if not found:
        return TrialState.FAIL, None, 0, {}
    return TrialState.COMPLETE, sum(found) / len(found), len(found), {}


def view_trials(spec: StudySpec, trials: list, led: Ledger | None = None) -> list:
    """One `FrozenTrial` per proposed setting of a Bayesian study, in proposal order (module docstring).

    Args:
        spec: the study's spec.
        trials: the stored trials (``study.get_trials(deepcopy=False)``).
        led: their `Ledger` (derived from `trials` when None).

    Returns:
        Frozen trials for ``Study.add_trials``, with the first trial's params and distributions and
        user attributes ``cell`` and ``n`` (the values the mean is over; 0 unless COMPLETE).

    Example:
        >>> [t.state.name for t in view_trials(spec, study.get_trials())]  # doctest: +SKIP
        ['COMPLETE', 'PRUNED', 'RUNNING']
    """
    import optuna

    led = led if led is not None else ledger(spec, trials)
    by_number = {t.number: t for t in trials}
    out = []
    for cell, first in led.first_trials.items():
        state, value, n, curve = setting_outcome(spec, led, cell, by_number)
        out.append(optuna.trial.create_trial(
            state=state, value=value, params=dict(first.params), distributions=dict(first.distributions),
            intermediate_values=curve, user_attrs={"cell": cell, "n": n}))
    return out


def view_seed(spec: StudySpec, worker: int, settings: int, repeats: int) -> int | None:
    """The view sampler's seed: None without ``sampler_seed``; else derived from it, the worker, the
    settings proposed so far and the proposals lost as repeats (duplicate claims). The sampler is
    made afresh for every proposal, so each call must differ from the last (a repeat included),
    while a one-worker run stays reproducible and a resumed run asks as the uninterrupted one did.

    Example:
        >>> view_seed(spec, 0, 3, 0) == view_seed(spec, 0, 3, 0) != view_seed(spec, 1, 3, 0)  # doctest: +SKIP
        True
    """
    if spec.sampler_seed is None:
        return None
    return random.Random(f"tipsd-view|{spec.sampler_seed}|{worker}|{settings}|{repeats}").getrandbits(32)


def propose(study, spec: StudySpec, worker: int = 0) -> Job:
    """Ask `spec`'s sampler for a new setting on the per-setting view of `study` (not stored).

    Returns:
        The new sample's `Job` (first seed) with its weights, params and distributions.

    Example:
        >>> propose(study, load_spec("studies/bayes.toml")).params  # doctest: +SKIP
        {'gamma_info_is_zero': False, 'gamma_info': 0.73, ...}
    """
    import optuna

    trials = study.get_trials(deepcopy=False)
    led = ledger(spec, trials, retry_from(study))
    repeats = sum("duplicate_of" in t.user_attrs for t in trials)
    seed = view_seed(spec, worker, len(led.first_trials), repeats)
    view = optuna.create_study(direction=study.direction, sampler=sampler_named(spec.sampler, seed))
    view.add_trials(view_trials(spec, trials, led))
    trial = view.ask()
    gammas = suggest_gammas(trial, spec)
    return Job(gammas=gammas, seed=spec.seeds[0], params=dict(trial.params),
               distributions=dict(trial.distributions), new_sample=True)


__all__ = ["MODEL_BASED", "propose", "sees_setting_means", "setting_outcome", "view_seed", "view_trials"]
