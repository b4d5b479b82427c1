"""What TPE and GP are shown in a Bayesian study (issue 13): one trial per proposed setting, its seed
mean once the setting needs no more runs (`tipsd.sweep.sampler_view`)."""
from __future__ import annotations

import math

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from tipsd.model.record import run_attrs
from tipsd.sweep.jobs import ledger
from tipsd.sweep.runner import run_study
from tipsd.sweep.sampler_view import propose, sees_setting_means, view_seed, view_trials
from tipsd.sweep.spec import load_spec
from test_sweep_support import FAST_RUN, noisy_train, write_study

BODY = """name = "v"
sampler = "{sampler}"
sampler_seed = 1
budget = {budget}
seeds = {seeds}
{racing}
[space]
gamma_info = {{ low = 0.5, high = 2 }}
gamma_s = {{ low = 0.1, high = 3 }}
[train]
preset = "tiny"
""" + FAST_RUN
DISTS = {"gamma_info": FloatDistribution(0.5, 2), "gamma_s": FloatDistribution(0.1, 3)}


def spec_of(tmp_path, sampler="tpe", budget=8, seeds="{ min = 2, max = 3 }", racing="[racing]\nalpha = 0.5"):
    return load_spec(write_study(tmp_path, "v", BODY.format(sampler=sampler, budget=budget, seeds=seeds,
                                                            racing=racing)))


def stored_trials(runs):
    """`runs` = (gamma_info, seed, state, value, extra attrs, intermediate values) as numbered trials."""
    study = optuna.create_study(direction="maximize")
    for gi, seed, state, value, attrs, curve in runs:
        gammas = {"gamma_info": gi, "gamma_s": 1.0, "gamma_com": 1.0, "gamma_var": 1.0, "gamma_red": 1.0}
        study.add_trial(optuna.trial.create_trial(
            state=state, value=value, params={"gamma_info": gi, "gamma_s": 1.0}, distributions=DISTS,
            user_attrs={**run_attrs(gammas, seed, preset="tiny", version="t"), **attrs},
            intermediate_values=curve))
    return study.get_trials(deepcopy=False)


def run(gi, seed, value=None, state=TrialState.COMPLETE, attrs=None, curve=None):
    return gi, seed, state, value, attrs or {}, curve or {}


def shown(view):
    return [(t.params["gamma_info"], t.state.name, t.value, t.user_attrs["n"]) for t in view]


def test_racing_view_one_trial_per_setting_with_its_seed_mean(tmp_path):
    spec = spec_of(tmp_path)  # 2..3 seeds, alpha 0.5: one round at level 0.5
    diverged = {"diverged": True, "fail_reason": "diverged at epoch 1"}
    trials = stored_trials([
        run(0.5, 0, 10.0), run(0.5, 1, 12.0), run(0.5, 2, 14.0),  # ran to max (no incumbent): mean 12
        run(0.6, 0, 5.0), run(0.6, 1, 6.5), run(0.6, 2, 7.0),  # separated at 2 seeds (p 0.03): its
        # seed-2 run, stored before, is not read: mean (5 + 6.5) / 2
        run(0.7, 0, 10.5), run(0.7, 1, 11.9),  # not worse than the incumbent: still racing (seed 2)
        run(0.8, 0, state=TrialState.PRUNED, curve={0: 3.0, 1: 4.0}),
        run(0.9, 0, state=TrialState.FAIL, attrs=diverged),
        run(1.0, 0, 9.0), run(1.0, 1, state=TrialState.RUNNING),
    ])
    led = ledger(spec, trials)
    assert led.settings_race[trials[3].user_attrs["cell"]].n == 2  # the race's answer, as the comment says
    view = view_trials(spec, trials, led)
    assert shown(view) == [(0.5, "COMPLETE", 12.0, 3), (0.6, "COMPLETE", 5.75, 2), (0.7, "RUNNING", None, 0),
                           (0.8, "PRUNED", None, 0), (0.9, "FAIL", None, 0), (1.0, "RUNNING", None, 0)]
    assert view[3].intermediate_values == {0: 3.0, 1: 4.0}  # TPE ranks a pruned trial by its last step
    assert all(t.distributions == DISTS and t.params["gamma_s"] == 1.0 for t in view)
    optuna.create_study(direction="maximize").add_trials(view)  # a valid history for a sampler


def test_fixed_seeds_view_waits_for_every_seed(tmp_path):
    spec = spec_of(tmp_path, seeds="[0, 1]", racing="")
    trials = stored_trials([
        run(0.5, 0, 3.0), run(0.5, 1, 5.0),
        run(0.6, 0, 7.0),  # seed 1 not stored yet
        run(0.7, 0, state=TrialState.PRUNED),
        run(0.8, 0, 8.0), run(0.8, 1, state=TrialState.FAIL, attrs={"diverged": True, "fail_reason": "x"}),
    ])
    assert shown(view_trials(spec, trials)) == [(0.5, "COMPLETE", 4.0, 2), (0.6, "RUNNING", None, 0),
                                                (0.7, "PRUNED", None, 0), (0.8, "COMPLETE", 8.0, 1)]


def test_only_model_based_samplers_use_the_view(tmp_path):
    assert sees_setting_means(spec_of(tmp_path, "tpe")) and sees_setting_means(spec_of(tmp_path, "gp"))
    assert not sees_setting_means(spec_of(tmp_path, "random")) and not sees_setting_means(spec_of(tmp_path, "qmc"))


def test_view_seed_differs_per_call_and_worker_but_is_reproducible(tmp_path):
    spec = spec_of(tmp_path)
    seeds = {view_seed(spec, w, n, r) for w in (0, 1) for n in (0, 1, 2) for r in (0, 1)}
    assert len(seeds) == 12 and view_seed(spec, 0, 2, 1) == view_seed(spec, 0, 2, 1)
    spec.sampler_seed = None
    assert view_seed(spec, 0, 2, 1) is None


class Spy(optuna.samplers.TPESampler):
    """TPE that records, at each proposal, the history it was given (the params it proposed are
    recorded by the wrapped `suggest_gammas`)."""

    seen: list = []

    def before_trial(self, study, trial):
        history = [t for t in study.get_trials(deepcopy=True) if t.number != trial.number]  # not the one asked
        Spy.seen.append({"history": history, "params": {}})
        super().before_trial(study, trial)


def test_bayesian_racing_study_shows_tpe_setting_means_and_stores_its_proposals(tmp_path, monkeypatch):
    import tipsd.sweep.sampler_view as sv

    Spy.seen = []
    monkeypatch.setattr(sv, "sampler_named", lambda name, seed: Spy(seed=seed, n_startup_trials=3))
    suggest = sv.suggest_gammas

    def recorded(trial, spec):
        gammas = suggest(trial, spec)
        Spy.seen[-1]["params"] = dict(trial.params)
        return gammas

    monkeypatch.setattr(sv, "suggest_gammas", recorded)
    spec = spec_of(tmp_path, budget=6)
    url = f"sqlite:///{tmp_path}/v.db"
    report = run_study(spec, url, train_fn=noisy_train, progress=False, say=lambda line: None)
    assert report.ledger.finished and report.ledger.cells_sampled == 6
    trials = [t for t in optuna.load_study(study_name="v", storage=url).get_trials()
              if "duplicate_of" not in t.user_attrs]
    values = {(t.user_attrs["cell"], t.user_attrs["seed"]): t.value for t in trials
              if t.state == TrialState.COMPLETE}
    firsts = list(ledger(spec, trials).first_trials.values())  # the settings in proposal order
    assert len(Spy.seen) == 6 and len(trials) > 6  # one proposal per setting; settings got 2-3 seeds
    for k, seen in enumerate(Spy.seen):
        history = seen["history"]
        # the k settings proposed before, one trial each, in order, with their params
        assert [t.params for t in history] == [t.params for t in firsts[:k]]
        for t in history:
            cell, n = t.user_attrs["cell"], t.user_attrs["n"]
            if t.state == TrialState.COMPLETE:  # finished: the mean over its first n seeds, n = 2 or 3
                assert n in (2, 3) and t.value == pytest.approx(sum(values[cell, s] for s in range(n)) / n)
            else:
                assert t.state == TrialState.RUNNING and n == 0  # noisy_train neither prunes nor diverges
        # the proposal is stored as the k-th setting's first trial: params, distributions, seed 0
        assert firsts[k].params == seen["params"] and firsts[k].user_attrs["seed"] == 0
        assert firsts[k].distributions == {n: spec_dist for n, spec_dist in DISTS.items()}
    last = Spy.seen[-1]["history"]
    assert sum(t.state == TrialState.COMPLETE for t in last) >= 3  # TPE left its start-up on means
    assert any(t.user_attrs["n"] == 3 for t in last if t.state == TrialState.COMPLETE)


def test_propose_on_a_resumed_history_is_reproducible(tmp_path):
    from tipsd.sweep.storage import create_or_resume, open_storage

    spec = spec_of(tmp_path)
    url = f"sqlite:///{tmp_path}/p.db"
    run_study(spec, url, train_fn=noisy_train, progress=False, say=lambda line: None)
    study = create_or_resume(spec, open_storage(url), "t")
    a, b, other = propose(study, spec, 0), propose(study, spec, 0), propose(study, spec, 1)
    assert a.params == b.params != other.params and a.seed == 0 and a.new_sample
    assert all(math.isfinite(a.gammas[n]) for n in ("gamma_info", "gamma_s"))
