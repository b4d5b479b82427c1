"""Racing (adaptive replicates): hand-made races with known decisions, replay from storage, and the
acceptance simulation of issue 13 (benchmarks/racing_sim.py)."""
from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tipsd.analysis.stats import blocked_comparison, compare_to_best, paired_t_pvalue
from tipsd.analysis.racing import RacingSettings, decide_round, race_matrix, racing_state, setting_state

NAN = np.nan


def Ungated(*args, **kw):
    """Settings without the Friedman gate: 3 cells x 3 seeds can never pass it (smallest p 0.028), and
    these tests are about the race's bookkeeping; the gate has its own test."""
    return RacingSettings(*args, friedman_pretest=False, **kw)
BEST = [10.0, 11.0, 12.0, 10.5, 11.5]
CLOSE = [9.9, 11.2, 11.8, 10.4, 11.6]  # paired differences to BEST: 0.1, -0.2, 0.2, 0.1, -0.1
BAD = [0.0, 1.1, 1.9, 0.4, 1.6]  # paired differences to BEST: 10, 9.9, 10.1, 10.1, 9.9


def state(rows, settings, **kw):
    x = np.array(rows, dtype=float)
    return racing_state(x, list(range(x.shape[1])), settings, **kw)


def same(a, b) -> bool:
    """Equal states, NaN equal to NaN (p-values of cells not separated are NaN)."""
    return repr(a) == repr(b)


def rcbd_p(rows, best, cell):
    """Hand formula of the randomized complete block design (no value missing): residual
    x − row mean − column mean + grand mean, df (k − 1)(r − 1), t = gap / sqrt(2 · MSE / r)."""
    from scipy import stats

    x = np.array(rows, dtype=float)
    k, r = x.shape
    resid = x - x.mean(1, keepdims=True) - x.mean(0, keepdims=True) + x.mean()
    df = (k - 1) * (r - 1)
    t = (x[best].mean() - x[cell].mean()) / np.sqrt(2 * (resid ** 2).sum() / df / r)
    return 2 * stats.t.sf(abs(t), df)


def pad(row, n):
    return list(row[:n]) + [NAN] * (len(row) - n)


def load_sim():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "racing_sim.py"
    spec = importlib.util.spec_from_file_location("racing_sim", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --- settings -----------------------------------------------------------------------------------

def test_settings_seeds_rounds_and_level():
    s = RacingSettings(min_seeds=3, max_seeds=10, alpha=0.05)
    assert s.seeds == tuple(range(10)) and s.rounds == 7
    assert s.round_alpha == pytest.approx(0.05 / 7)
    assert RacingSettings(3, 10, split_alpha=False).round_alpha == 0.05
    assert RacingSettings(3, 3).rounds == 0 and RacingSettings(3, 3).round_alpha == 0.05


@pytest.mark.parametrize("kw, quoted", [
    ({"min_seeds": 1}, "min_seeds = 1"), ({"min_seeds": 4, "max_seeds": 3}, "max_seeds = 3"),
    ({"alpha": 1.5}, "alpha = 1.5"), ({"budget": 0}, "budget = 0"), ({"min_seeds": 2.5}, "min_seeds = 2.5"),
])
def test_settings_errors_quote_the_value(kw, quoted):
    with pytest.raises(ValueError, match=quoted):
        RacingSettings(**kw)


# --- the test: the table's own ------------------------------------------------------------------

def test_a_round_is_tipsd_tables_comparison_at_the_rounds_level():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (6, 5)) + np.array([0, 0.2, 0.5, 1.0, 2.0, 3.0])[:, None] + rng.normal(0, 1, 5)
    runs = pd.DataFrame([{"g": c, "seed": s, "value": x[c, s]} for c in range(6) for s in range(5)])
    table = compare_to_best(runs, by=["g"], higher_is_better=True, alpha=0.05)
    rnd = decide_round(x, np.ones(6, bool), RacingSettings(5, 6, split_alpha=False))
    assert rnd.best == int(table.loc[table["is_best"], "g"].iloc[0])
    np.testing.assert_allclose(rnd.p_holm, table["p_holm"], rtol=1e-9, equal_nan=True)
    assert set(rnd.separated) == set(table.loc[table["distinguishable"], "g"])


def test_friedman_gate_holds_back_a_round_it_does_not_pass():
    x = np.array([pad(BEST, 3)[:3], pad(CLOSE, 3)[:3], pad(BAD, 3)[:3]])
    # Friedman over 3 cells x 3 seeds: rank sums 8, 7, 3 -> chi2 4.67, p 0.097 > 0.05 / 2
    assert decide_round(x, np.ones(3, bool), RacingSettings(3, 5)).separated == ()
    assert decide_round(x, np.ones(3, bool), Ungated(3, 5)).separated == (2,)
    x4 = np.array([BEST[:4], CLOSE[:4], BAD[:4]])  # 4 seeds: rank sums 11, 9, 4 -> chi2 6.5, p 0.039
    assert decide_round(x4, np.ones(3, bool), RacingSettings(3, 4)).separated == (2,)  # level 0.05


# --- hand-made races ----------------------------------------------------------------------------

def test_clearly_worse_cell_is_separated_at_min_seeds_and_gets_no_more():
    s = Ungated(min_seeds=3, max_seeds=5)  # round level 0.05 / 2
    st = state([pad(BEST, 3), pad(CLOSE, 3), pad(BAD, 3)], s)
    three = [BEST[:3], CLOSE[:3], BAD[:3]]
    p_bad, p_close = rcbd_p(three, 0, 2), rcbd_p(three, 0, 1)  # error pooled over 3 cells: df 4
    assert st.status == ("racing", "racing", "separated")
    assert st.n == (4, 4, 3) and st.round == 4 and st.best == 0
    assert st.p_holm[2] == pytest.approx(min(1.0, 2 * p_bad))  # Holm: smallest of 2 p-values, times 2
    assert np.isnan(st.p_holm[0]) and np.isnan(st.p_holm[1])
    assert st.rounds[0].p_holm[1] == pytest.approx(max(2 * p_bad, p_close))
    assert st.jobs == ((0, 3), (1, 3)) and not st.done
    assert st.runs_used == 9 and st.runs_planned == 11 and st.runs_full == 15 and st.runs_saved == 2


def test_close_cell_survives_to_max():
    st = state([BEST, CLOSE, pad(BAD, 3)], Ungated(3, 5))
    assert st.done and st.stop_reason == "max" and st.jobs == ()
    assert st.status == ("at_max", "at_max", "separated") and st.n == (5, 5, 3)
    assert st.survivors == (0, 1)
    assert st.runs_used == st.runs_planned == 13 and st.runs_saved == 2
    assert [r.n for r in st.rounds] == [3, 4]


def test_nothing_is_separated_before_min_seeds():
    st = state([pad(BEST, 2), pad(CLOSE, 2), pad(BAD, 2)], Ungated(3, 5))
    assert st.rounds == () and set(st.status) == {"racing"} and st.round == 3
    assert st.jobs == ((0, 2), (1, 2), (2, 2))


def test_min_equals_max_is_the_fixed_grid():
    st = state([pad(BEST, 3), pad(BAD, 3)], Ungated(3, 3))
    assert st.done and st.status == ("at_max", "at_max") and st.rounds == ()


def test_missing_value_is_a_job_and_holds_the_round():
    rows = [pad(BEST, 3), pad(CLOSE, 3), pad(BAD, 3)]
    rows[1][1] = NAN  # seed 1 of the close cell is not stored (running, failed, or a killed worker's)
    st = state(rows, Ungated(3, 5))
    assert st.jobs == ((1, 1),) and st.rounds == () and st.round == 3
    assert set(st.status) == {"racing"}  # the bad cell waits for the round to be complete


def test_settled_without_value_lets_the_round_go_on():
    rows = [pad(BEST, 3), pad(CLOSE, 3), pad(BAD, 3)]
    rows[1][1] = NAN
    settled = np.zeros((3, 5), bool)
    settled[1, 1] = True  # diverged, or retries exhausted: no value will come
    st = state(rows, Ungated(3, 5), settled=settled)
    assert st.status == ("racing", "racing", "separated") and st.jobs == ((0, 3), (1, 3))
    assert st.runs_used == 9  # the settled run counts as spent


def test_cell_with_under_two_values_is_not_tested_and_keeps_racing():
    rows = [pad(BEST, 3), [0.0, NAN, NAN, NAN, NAN], pad(CLOSE, 3)]
    settled = np.zeros((3, 5), bool)
    settled[1, 1:3] = True
    st = state(rows, Ungated(3, 5), settled=settled)
    assert st.status[1] == "racing" and np.isnan(st.rounds[0].p_holm[1])


def test_replay_is_sticky_when_the_best_changes():
    # Round 3: cell 0 leads and separates cell 2. Round 4: cell 1 leads. A stray run stored later for
    # cell 2 (seeds 3 and 4) would make it not separated from cell 1 on seeds 0..3; the replay still
    # gives cell 2 separated at 3 seeds, and never asks for its seed 3.
    a = [10.0, 11.0, 12.0, 5.0, NAN]
    b = [9.0, 10.9, 11.0, 20.0, NAN]
    c = [0.0, 1.1, 1.9, NAN, NAN]
    st = state([a, b, c], Ungated(3, 5))
    assert st.rounds[0].best == 0 and st.rounds[0].separated == (2,)
    assert st.rounds[1].best == 1 and st.best == 1
    assert st.status == ("racing", "racing", "separated") and st.n == (5, 5, 3)
    assert st.jobs == ((0, 4), (1, 4))
    c_late = [0.0, 1.1, 1.9, 30.0, 31.0]
    x4 = np.array([a, b, c_late])[:, :4]
    assert 2 not in decide_round(x4, np.ones(3, bool), Ungated(3, 5)).separated  # not sticky: back
    again = state([a, b, c_late], Ungated(3, 5))
    assert same(again, st)


def test_budget_stops_before_a_round_that_does_not_fit():
    rows = [BEST, CLOSE, pad(BAD, 3)]
    st = state(rows, Ungated(3, 5, budget=12))  # 9 + 2 = 11 fits, 11 + 2 = 13 does not
    assert st.done and st.stop_reason == "budget" and st.round == 4
    assert st.status == ("stopped", "stopped", "separated") and st.runs_planned == 11
    assert st.runs_saved == 4
    st = state([pad(r, 3) for r in rows], Ungated(3, 5, budget=12))
    assert st.jobs == ((0, 3), (1, 3)) and not st.done  # the started round is finished first
    st = state([pad(r, 2) for r in rows], Ungated(3, 5, budget=4))
    assert len(st.jobs) == 3  # the first round always runs


def test_ties_best_is_the_lowest_index_and_the_twin_survives():
    st = state([pad(CLOSE, 3), pad(BEST, 3), pad(BEST, 3), pad(BAD, 3)], Ungated(3, 5))
    assert st.best == 1 and st.status[2] == "racing"  # identical runs: p = 1
    assert st.status == ("racing", "racing", "racing", "separated")


def test_lower_is_better():
    neg = [[-v for v in r] for r in (pad(BEST, 3), pad(CLOSE, 3), pad(BAD, 3))]
    s = Ungated(3, 5)
    assert state(neg, s, higher_is_better=False).status == ("racing", "racing", "separated")
    assert state(neg, s, higher_is_better=True).status == ("separated", "separated", "stopped")


def test_last_cell_standing_stops_the_race():
    st = state([pad(BEST, 3), pad(BAD, 3)], Ungated(3, 5))
    assert st.done and st.stop_reason == "separated" and st.status == ("stopped", "separated")
    assert st.runs_saved == 4


def test_columns_are_matched_by_seed():
    x = np.array([pad(BEST, 3), pad(BAD, 3)])[:, [2, 0, 1]]
    x = np.hstack([x, [[99.0], [99.0]]])  # seed 42 is not a race seed: ignored
    st = racing_state(x, [2, 0, 1, 42], Ungated(3, 5))
    assert st.status == ("stopped", "separated")
    with pytest.raises(ValueError, match="expected"):
        racing_state(x, [0, 1], Ungated(3, 5))


# --- storage: order of finishing, duplicates ----------------------------------------------------

def test_same_state_whatever_order_runs_finished_in():
    sim = load_sim()
    runs = sim.fake_runs(sim.CONFIGS["clear"][0], 1, 10, 0.5, 0.5, seed=3)[0]
    settings = Ungated(3, 10)
    cells = [f"cell{i}" for i in range(runs.shape[0])]
    done = sim.stepwise_race(runs, settings)
    recs = [(cells[c], s, runs[c, s]) for c in range(len(cells)) for s in range(done.n[c])]
    recs += [(cells[0], 0, runs[0, 0] + 0.3),  # a duplicate run, averaged
             ("not-a-cell", 0, 1.0), (cells[1], 99, 1.0)]  # foreign cell and seed: ignored
    states = []
    for k in range(5):
        random.Random(k).shuffle(recs)
        x, settled = race_matrix(recs, cells, settings)
        states.append(racing_state(x, settings.seeds, settings, settled=settled))
    assert all(same(s, states[0]) for s in states)
    assert states[0].done and states[0].status[1:] == done.status[1:]


def test_race_matrix_averages_duplicates_and_marks_settled():
    x, settled = race_matrix([("a", 1, 2.0), ("a", 1, 4.0), ("b", 0, float("inf"))], ["a", "b"],
                             Ungated(2, 3))
    assert x[0, 1] == 3.0 and np.isnan(x[1, 0]) and settled[1, 0] and not settled[0, 0]


# --- Bayesian samplers: one setting against the incumbent ---------------------------------------

def test_setting_against_the_incumbent():
    s = Ungated(3, 5)  # round level 0.025, a family of one
    assert setting_state(BAD[:3], BEST, s).status == "separated"
    assert setting_state(BAD[:3], BEST, s).p == pytest.approx(paired_t_pvalue(np.array([10.0, 9.9, 10.1])))
    close = setting_state(CLOSE[:3], BEST, s)
    assert close.status == "racing" and close.jobs == (3,) and not close.finished
    assert setting_state(CLOSE, BEST, s).status == "at_max"
    better = [v + 5 for v in BEST[:4]]
    assert setting_state(better, BEST, s).jobs == (4,)  # better than the incumbent: runs to max
    assert setting_state(BAD[:3], None, s).jobs == (3,)  # no incumbent: nothing separates it
    assert setting_state([BAD[0]], BEST, s).jobs == (1, 2)
    gave_up = setting_state([BAD[0], NAN, BAD[2]], BEST, s, settled=[False, True])  # seed 1 failed for good
    assert gave_up.status == "separated" and gave_up.n == 3  # tested on seeds 0 and 2


# --- the acceptance simulation (issue 13) -------------------------------------------------------

@pytest.fixture(scope="module")
def acceptance():
    sim = load_sim()
    out = {}
    for name, lo, hi in [("clear", 3, 10), ("clear", 3, 12), ("table1", 3, 10)]:
        means, scale = sim.CONFIGS[name]
        out[name, hi] = sim.simulate(means, RacingSettings(lo, hi), studies=200, seed=0, scale=scale)
    return out


def test_stepwise_driver_loop_equals_the_replay():
    sim = load_sim()
    settings = RacingSettings(3, 10)
    runs = sim.fake_runs(sim.CONFIGS["clear"][0], 8, 10, 0.5, 0.5, seed=5)
    for study in runs:
        assert same(sim.stepwise_race(study, settings), racing_state(study, settings.seeds, settings))


@pytest.mark.parametrize("max_seeds", [10, 12])
def test_acceptance_keeps_best_and_near_best_with_half_the_runs(acceptance, max_seeds):
    # issue 13's acceptance: over 200 studies of 16 cells, >= 95 % keep the true best and every cell
    # within delta, with <= 50 % of the runs of the full max-seed grid (min 3, max 10 and 12).
    r = acceptance["clear", max_seeds]
    assert r["keep"] >= 0.95 and r["best_kept"] >= 0.95, r
    assert r["runs_mean"] <= 0.5, r


def test_acceptance_figures_are_the_documented_ones(acceptance):
    # docs/racing.md (python benchmarks/racing_sim.py --configs clear,table1): kept / runs of the full grid
    assert acceptance["clear", 10]["keep"] == pytest.approx(0.975)
    assert acceptance["clear", 10]["runs_mean"] == pytest.approx(0.474, abs=0.001)
    assert acceptance["clear", 12]["keep"] == pytest.approx(0.99)
    assert acceptance["clear", 12]["runs_mean"] == pytest.approx(0.436, abs=0.001)
    assert acceptance["table1", 10]["keep"] == 1.0
    assert acceptance["table1", 10]["runs_mean"] == pytest.approx(0.642, abs=0.001)
