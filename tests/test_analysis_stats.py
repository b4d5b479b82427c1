"""Paired test against the best cell, Holm correction, bootstrap probability of being best."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from tipsd.analysis.stats import (blocked_comparison, cell_seed_matrix, compare_to_best, holm, paired_t_pvalue,
                                  prob_best)


def frame(cells: dict[float, list[float]]) -> pd.DataFrame:
    recs = [{"g": g, "seed": s, "value": v} for g, vals in cells.items() for s, v in enumerate(vals) if v is not None]
    return pd.DataFrame.from_records(recs)


def test_paired_t_matches_hand_computation():
    # d = 1, 2, 3: mean 2, sd 1, t = 2 / (1/sqrt 3) = 3.4641, df 2
    p = paired_t_pvalue(np.array([1.0, 2.0, 3.0]))
    assert p == pytest.approx(2 * sps.t.sf(2 * np.sqrt(3), 2))
    assert p == pytest.approx(0.074180, abs=1e-6)
    assert np.isnan(paired_t_pvalue(np.array([1.0])))
    assert paired_t_pvalue(np.array([0.5, 0.5])) == 0.0
    assert paired_t_pvalue(np.array([0.0, 0.0])) == 1.0


def test_holm_adjustment():
    assert holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])
    out = holm([0.2, np.nan, 0.01])
    assert out[0] == pytest.approx(0.2) and np.isnan(out[1]) and out[2] == pytest.approx(0.02)


def test_compare_to_best_is_paired_by_seed():
    # best cell 2: [10, 12, 14]; cell 1 trails it by exactly 1, 1.1, 0.9 -> paired test sees a clear gap
    # although the unpaired spreads overlap; cell 0 has one shared seed only -> untested.
    runs = frame({0: [5.0, None, None], 1: [9.0, 10.9, 13.1], 2: [10.0, 12.0, 14.0]})
    res = compare_to_best(runs, by=["g"]).set_index("g")
    assert res.loc[2, "is_best"] and not res.loc[2, "tested"]
    assert res.loc[0, "n_pairs"] == 1 and not res.loc[0, "tested"]
    d = np.array([1.0, 1.1, 0.9])
    p = 2 * sps.t.sf(d.mean() / (d.std(ddof=1) / np.sqrt(3)), 2)
    assert res.loc[1, "p_value"] == pytest.approx(p)
    assert res.loc[1, "p_holm"] == pytest.approx(p)  # the only test in the family
    assert res.loc[1, "mean_diff"] == pytest.approx(1.0)
    assert p < 0.05 and bool(res.loc[1, "distinguishable"])


def test_lower_is_better_flips_the_best():
    runs = frame({0: [1.0, 2.0], 1: [3.0, 4.0]})
    res = compare_to_best(runs, by=["g"], higher_is_better=False).set_index("g")
    assert bool(res.loc[0, "is_best"])


def test_cell_seed_matrix_averages_duplicate_runs():
    runs = pd.DataFrame({"g": [0, 0, 0], "seed": [0, 0, 1], "value": [1.0, 3.0, 5.0]})
    _, seeds, x = cell_seed_matrix(runs, by=["g"])
    assert seeds == [0, 1] and x.tolist() == [[2.0, 5.0]]


def test_prob_best_bootstrap():
    sure = prob_best(frame({0: [1.0, 3.0], 1: [0.0, 0.0]}), by=["g"])
    assert sure["p_best"].tolist() == [1.0, 0.0]
    # A = [1, 3], B = [2, 2]: draws {0,0} -> B, {1,1} -> A, mixed -> tie (shared): P = 0.5 each
    even = prob_best(frame({0: [1.0, 3.0], 1: [2.0, 2.0]}), by=["g"], n_boot=4000)
    assert even["p_best"].sum() == pytest.approx(1.0)
    assert even["p_best"].tolist() == pytest.approx([0.5, 0.5], abs=0.03)
    again = prob_best(frame({0: [1.0, 3.0], 1: [2.0, 2.0]}), by=["g"], n_boot=4000)
    assert again["p_best"].tolist() == even["p_best"].tolist()  # seeded RNG


def test_blocked_comparison_two_cells_is_the_paired_t_test():
    x = np.array([[10.0, 12.0, 14.0], [9.0, 10.9, 13.1]])
    res = blocked_comparison(x)
    assert res["best"] == 0 and res["df"] == 2
    assert res["p"][1] == pytest.approx(paired_t_pvalue(x[0] - x[1]))


def test_blocked_comparison_pools_the_error_and_ignores_seed_offsets():
    # 3 cells x 3 seeds; residuals of the additive fit pooled over all cells: df (3-1)(3-1) = 4
    x = np.array([[10.0, 12.0, 14.0], [9.0, 10.9, 13.1], [5.0, 7.0, 9.2]])
    resid = x - x.mean(1, keepdims=True) - x.mean(0, keepdims=True) + x.mean()
    se = np.sqrt(2 * (resid ** 2).sum() / 4 / 3)
    res = blocked_comparison(x)
    assert res["df"] == 4 and res["mean_diff"][2] == pytest.approx(12.0 - 21.2 / 3)  # complete: raw means
    assert res["p"][2] == pytest.approx(2 * sps.t.sf((12.0 - x[2].mean()) / se, 4))
    # a missing run: the seed offsets are fitted, so adding one to every cell of a seed changes nothing
    x[1, 2] = np.nan
    shifted = x + np.array([0.0, 5.0, -3.0])
    a, b = blocked_comparison(x), blocked_comparison(shifted)
    assert a["df"] == 3 and a["n_pairs"].tolist() == [3, 2, 3]
    np.testing.assert_allclose(a["p"], b["p"], equal_nan=True)
    np.testing.assert_allclose(a["mean_diff"], b["mean_diff"])
    assert blocked_comparison(x, among=np.array([False, True, True]))["best"] == 1


def test_blocked_comparison_of_nothing():
    res = blocked_comparison(np.full((2, 3), np.nan))
    assert res["best"] is None and np.isnan(res["p"]).all()


def test_blocked_comparison_equals_least_squares_on_the_full_design():
    # reference: the one-hot cell + seed design solved by numpy's least squares, with missing runs
    rng = np.random.default_rng(4)
    x = rng.normal(0, 1, (7, 5)) + np.arange(7)[:, None] * 0.3 + rng.normal(0, 1, 5)
    x[rng.random(x.shape) < 0.25] = np.nan
    x[6] = np.nan  # a cell with nothing stored
    rows, cols = np.nonzero(np.isfinite(x))
    design = np.zeros((rows.size, 12))
    design[np.arange(rows.size), rows] = 1.0
    design[np.arange(rows.size), 7 + cols] = 1.0
    coef, _, rank, _ = np.linalg.lstsq(design, x[rows, cols], rcond=None)
    rss = [float(((x[rows, cols] - design @ coef) ** 2).sum())]  # lstsq leaves it empty: rank-deficient
    df = rows.size - rank
    g = np.linalg.pinv(design.T @ design)
    res = blocked_comparison(x)
    b = res["best"]
    assert res["df"] == df
    for c in range(6):
        if c == b:
            continue
        e = np.zeros(12)
        e[b], e[c] = 1.0, -1.0
        t = (e @ coef) / np.sqrt(rss[0] / df * (e @ g @ e))
        assert res["mean_diff"][c] == pytest.approx(e @ coef)
        if res["n_pairs"][c] >= 2:
            assert res["p"][c] == pytest.approx(2 * sps.t.sf(abs(t), df))
    assert np.isnan(res["p"][6]) and np.isnan(res["mean_diff"][6])
