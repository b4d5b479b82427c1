"""Signal vs seed noise: ANOVAs (one-way and blocked), ICC(1), detectable differences, seeds needed,
footer and report text. Expected values are computed by hand, by scipy on the raw groups, by least
squares, or by Monte-Carlo simulation — never by the functions under test."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from tipsd.analysis.signal import (
    blocked_anova,
    detectable_difference,
    effective_group_size,
    intraclass_correlation,
    one_way_anova,
    paired_difference_sd,
    render_signal,
    seeds_to_separate,
    signal_summary,
    t_test_power,
)


def frame(x: np.ndarray) -> pd.DataFrame:
    """Tidy runs from a cells × seeds matrix (NaN = run missing); cell index in column `g`."""
    return pd.DataFrame([{"g": c, "seed": s, "value": v} for (c, s), v in np.ndenumerate(x) if not np.isnan(v)])


def noise_matrix(rng: np.random.Generator, cells: int, seeds: int, effect: float = 0.0) -> np.ndarray:
    """Equal true means (plus `effect` × a planted linear trend over cells), a shared seed effect and
    Gaussian seed × cell noise of sd 1."""
    seed_effect = rng.normal(scale=0.7, size=seeds)[None, :]
    return effect * np.linspace(-1, 1, cells)[:, None] + seed_effect + rng.normal(size=(cells, seeds))


HAND = np.array([[1.0, 3.0, 5.0], [4.0, 5.0, 9.0]])  # 2 cells x 3 seeds


def test_tiny_case_computed_by_hand():
    # Cell means 3 and 6, grand mean 4.5.
    # One-way: SSB = 3·(1.5² + 1.5²) = 13.5 on 1 df -> MSB 13.5;
    #          SSW = (4 + 0 + 4) + (4 + 1 + 9) = 22 on 4 df -> MSW 5.5; F = 13.5 / 5.5 = 2.4545.
    # ICC(1) = (13.5 − 5.5) / (13.5 + 2·5.5) = 8 / 24.5 = 0.32653 (n0 = 3).
    # Blocked: seed means 2.5, 4, 7 -> SS_seed = 2·(4 + 0.25 + 6.25) = 21 on 2 df; SS_total = 35.5;
    #          SS_error = 35.5 − 13.5 − 21 = 1 on 2 df -> MS_e 0.5; F_cell = 27, F_seed = 10.5 / 0.5 = 21.
    # Components: cells (13.5 − 0.5)/3 = 13/3, seed block (10.5 − 0.5)/2 = 5, error 0.5 -> total 59/6.
    # Paired differences 3, 2, 4: sd 1 = sqrt(2 · 0.5). Seed stds 2 and sqrt(7); pooled sqrt(5.5).
    s = signal_summary(frame(HAND), by=["g"])
    assert (s.ms_between, s.ms_within, s.n0) == pytest.approx((13.5, 5.5, 3.0))
    assert s.f_oneway == pytest.approx(13.5 / 5.5) and s.df_oneway_error == 4
    assert s.p_oneway == pytest.approx(sps.f.sf(13.5 / 5.5, 1, 4))
    assert s.icc == pytest.approx(8 / 24.5) and s.icc == s.icc_unclipped
    assert s.design == "blocked" and s.n_block_seeds == 3
    assert (s.f, s.df_cells, s.df_error) == (pytest.approx(27.0), 1, 2)
    assert s.p == pytest.approx(sps.f.sf(27, 1, 2)) and s.significant  # p = 0.035
    assert s.f_seed == pytest.approx(21.0) and s.p_seed == pytest.approx(sps.f.sf(21, 2, 2))
    assert s.share_weights == pytest.approx((13 / 3) / (59 / 6))
    assert s.share_seed_block == pytest.approx(5 / (59 / 6))
    assert s.share_seed_noise == pytest.approx(0.5 / (59 / 6))
    assert s.median_seed_std == pytest.approx((2 + np.sqrt(7)) / 2)
    assert s.pooled_within_std == pytest.approx(np.sqrt(5.5))
    assert s.sd_paired_diff == pytest.approx(1.0) and s.sd_source == "paired"
    assert s.best_cell == {"g": 1} and s.runner_up_cell == {"g": 0}
    assert s.best_mean - s.runner_up_mean == pytest.approx(3.0) and s.sd_best_pair == pytest.approx(1.0)


def test_effective_group_size_and_icc_formula():
    assert effective_group_size([3, 3, 3]) == pytest.approx(3.0)
    assert effective_group_size([2, 3, 4]) == pytest.approx((9 - 29 / 9) / 2)  # 2.8889
    assert intraclass_correlation(13.5, 5.5, 3) == pytest.approx(8 / 24.5)
    assert intraclass_correlation(1.0, 2.0, 3) == pytest.approx(-1 / 5)  # MSB < MSW: negative, unclipped


def test_negative_icc_is_clipped_and_said():
    # A = [1, 3], B = [3, 1]: equal means -> MSB 0; MSW (2 + 2) / 2 = 2; ICC = (0 − 2) / (0 + 1·2) = −1
    s = signal_summary(frame(np.array([[1.0, 3.0], [3.0, 1.0]])), by=["g"])
    assert s.icc_unclipped == pytest.approx(-1.0) and s.icc == 0.0
    footer, md = render_signal(s)
    assert "ICC 0.00 (0 % of a run's variance is due to the weights, 100 % to the seed, clipped from -1.00)" in footer
    assert "| ICC(1) | 0.00 (estimate -1.00, clipped) |" in md


def test_one_way_equals_scipy_f_oneway_on_unbalanced_groups():
    rng = np.random.default_rng(1)
    x = noise_matrix(rng, 6, 4, effect=2.0)
    x[0, 1] = x[3, 2] = x[3, 3] = x[5, 0] = np.nan  # unbalanced: sizes 3, 4, 4, 2, 4, 3
    groups = [r[np.isfinite(r)] for r in x]
    ref = sps.f_oneway(*groups)
    s = signal_summary(frame(x), by=["g"])
    assert s.f_oneway == pytest.approx(ref.statistic, rel=1e-12)
    assert s.p_oneway == pytest.approx(ref.pvalue, rel=1e-9)
    assert s.df_oneway_error == 20 - 6
    assert s.design == "one-way"  # every seed is missing in some cell: no complete block
    n = np.array([g.size for g in groups])
    assert s.n0 == pytest.approx((n.sum() - (n**2).sum() / n.sum()) / 5)


def least_squares_f(x: np.ndarray) -> tuple[float, float]:
    """F of cells and of seeds in the additive model by comparing residual sums of squares of dummy
    regressions (full vs without the factor), independent of `blocked_anova`."""
    c, s = x.shape
    y = x.ravel()
    cell = np.repeat(np.arange(c), s)
    seed = np.tile(np.arange(s), c)
    one = np.ones((y.size, 1))
    cd = (cell[:, None] == np.arange(1, c)).astype(float)
    sd = (seed[:, None] == np.arange(1, s)).astype(float)

    def rss(design: np.ndarray) -> float:
        beta = np.linalg.lstsq(design, y, rcond=None)[0]
        return float(((y - design @ beta) ** 2).sum())

    full = rss(np.hstack([one, cd, sd]))
    df_e = (c - 1) * (s - 1)
    f_cell = (rss(np.hstack([one, sd])) - full) / (c - 1) / (full / df_e)
    f_seed = (rss(np.hstack([one, cd])) - full) / (s - 1) / (full / df_e)
    return f_cell, f_seed


def test_blocked_anova_equals_least_squares_and_gains_from_blocking():
    rng = np.random.default_rng(2)
    x = noise_matrix(rng, 5, 4, effect=1.0) + np.array([3.0, -2.0, 0.5, 1.0])[None, :]  # strong seed effect
    f_cell, f_seed = least_squares_f(x)
    cells, seeds = blocked_anova(x)
    assert cells.f == pytest.approx(f_cell, rel=1e-9) and seeds.f == pytest.approx(f_seed, rel=1e-9)
    assert (cells.df_effect, cells.df_error, seeds.df_effect) == (4, 12, 3)
    s = signal_summary(frame(x), by=["g"])
    assert s.design == "blocked" and s.f == pytest.approx(f_cell) and s.f_blocked == pytest.approx(f_cell)
    assert s.p == pytest.approx(sps.f.sf(f_cell, 4, 12))
    assert s.f > 3 * s.f_oneway  # the seed effect inflates the one-way error term, blocking removes it


def test_paired_difference_sd_is_sqrt_two_ms_error_on_complete_data():
    rng = np.random.default_rng(3)
    x = noise_matrix(rng, 7, 5, effect=1.0)
    assert paired_difference_sd(x) ** 2 == pytest.approx(2 * blocked_anova(x)[0].ms_error, rel=1e-12)
    # by hand on one pair: d = 3, 2, 4 -> sd 1; a pair sharing one seed adds nothing
    assert paired_difference_sd(HAND) == pytest.approx(1.0)
    assert np.isnan(paired_difference_sd(np.array([[1.0, np.nan], [np.nan, 2.0]])))


def test_blocked_uses_the_seeds_every_cell_has_else_one_way():
    rng = np.random.default_rng(4)
    x = noise_matrix(rng, 4, 4, effect=1.0)
    x[2, 3] = np.nan  # seed 3 is incomplete: blocked fit on seeds 0-2 only
    s = signal_summary(frame(x), by=["g"])
    assert s.design == "blocked" and s.n_block_seeds == 3
    assert s.f == pytest.approx(least_squares_f(x[:, :3])[0])
    assert s.df_oneway_error == 15 - 4  # the one-way ANOVA keeps all 15 runs
    x[1, 1] = x[0, 2] = np.nan  # now only seed 0 is shared by every cell
    s = signal_summary(frame(x), by=["g"])
    assert s.design == "one-way" and s.f == s.f_oneway and s.p == s.p_oneway and np.isnan(s.f_blocked)
    assert s.share_weights == s.icc and np.isnan(s.share_seed_block)


def test_pure_noise_is_not_significant_and_icc_near_zero_while_planted_effect_is():
    rng = np.random.default_rng(5)
    noise = signal_summary(frame(noise_matrix(rng, 20, 5)), by=["g"])
    assert not noise.significant and noise.p > 0.05
    assert noise.icc < 0.1  # estimate for pure noise: 0 (clipped) or tiny
    planted = signal_summary(frame(noise_matrix(rng, 20, 5, effect=3.0)), by=["g"])
    assert planted.significant and planted.p < 1e-6
    assert planted.icc > 0.5  # the tolerance above would catch an effect of this size


def test_false_positive_rate_on_noise_tables_is_about_alpha():
    rng = np.random.default_rng(6)
    sums = [signal_summary(frame(noise_matrix(rng, 8, 3)), by=["g"]) for _ in range(200)]
    blocked = np.mean([s.significant for s in sums])
    one_way = np.mean([s.p_oneway < 0.05 for s in sums])
    assert all(s.design == "blocked" for s in sums)
    assert 0.02 <= blocked <= 0.09 and 0.02 <= one_way <= 0.09, (blocked, one_way)


def mc_power(effect: float, sd: float, n: int, *, paired: bool, reps: int = 20_000, seed: int = 7) -> float:
    """Share of simulated two-sided t-tests at α 0.05 that reject (vectorised, seeded)."""
    rng = np.random.default_rng(seed)
    if paired:
        p = sps.ttest_1samp(rng.normal(effect, sd, size=(reps, n)), 0.0, axis=1).pvalue
    else:
        a, b = rng.normal(effect, sd, size=(reps, n)), rng.normal(0.0, sd, size=(reps, n))
        p = sps.ttest_ind(a, b, axis=1).pvalue
    return float(np.mean(p < 0.05))


@pytest.mark.parametrize("n", [3, 5])
def test_detectable_difference_has_power_0_8_by_simulation(n):
    paired = detectable_difference(1.5, n)
    assert mc_power(paired, 1.5, n, paired=True) == pytest.approx(0.8, abs=0.02)
    unpaired = detectable_difference(1.5, n, paired=False)
    assert mc_power(unpaired, 1.5, n, paired=False) == pytest.approx(0.8, abs=0.02)
    # a difference 30 % smaller is clearly under-powered: the check can fail
    assert mc_power(0.7 * paired, 1.5, n, paired=True) < 0.7


def test_detectable_difference_shrinks_like_one_over_sqrt_n():
    d = {n: detectable_difference(1.0, n) for n in (4, 16, 64, 400)}
    assert d[4] / d[16] == pytest.approx(2.0, rel=0.5) and d[16] / d[64] == pytest.approx(2.0, rel=0.1)
    scaled = [d[n] * np.sqrt(n) for n in (4, 16, 64, 400)]
    assert scaled == sorted(scaled, reverse=True)  # small-n t penalty fades
    z = sps.norm.ppf(0.975) + sps.norm.ppf(0.8)  # the large-n (normal) limit: 2.80 · sd / sqrt(n)
    assert scaled[-1] == pytest.approx(z, rel=0.01)
    assert detectable_difference(2.0, 16) == pytest.approx(2 * d[16])  # linear in sd
    assert np.isnan(detectable_difference(1.0, 1)) and detectable_difference(0.0, 3) == 0.0


def direct_power(diff: float, sd: float, n: int) -> float:
    df, nc = n - 1, diff / sd * np.sqrt(n)
    tc = sps.t.ppf(0.975, df)
    return float(1 - sps.nct.cdf(tc, df, nc) + sps.nct.cdf(-tc, df, nc))


@pytest.mark.parametrize("diff, sd", [(0.5, 1.0), (1.0, 1.0), (0.3, 0.41), (2.0, 0.5)])
def test_seeds_to_separate_is_the_first_n_with_power(diff, sd):
    n = seeds_to_separate(diff, sd)
    assert direct_power(diff, sd, n) >= 0.8
    assert n == 2 or direct_power(diff, sd, n - 1) < 0.8


def test_seeds_to_separate_edges():
    assert seeds_to_separate(1.0, 1.0) == 10  # power 0.803 at 10, 0.76 at 9
    assert seeds_to_separate(0.01, 1.0) is None  # would need ~78,000
    assert seeds_to_separate(0.01, 1.0, n_max=100_000) == pytest.approx(78_500, rel=0.01)
    assert seeds_to_separate(0.0, 1.0) is None
    assert seeds_to_separate(0.2, 0.0) == 2
    with pytest.raises(ValueError, match="nan"):
        seeds_to_separate(1.0, float("nan"))
    assert float(t_test_power(0.0, 1.0, 5)) == pytest.approx(0.05)  # no effect: power = α


def test_footer_significant_and_markdown_section():
    rng = np.random.default_rng(8)
    s = signal_summary(frame(noise_matrix(rng, 12, 4, effect=4.0)), by=["g"])
    footer, md = render_signal(s)
    assert footer.startswith("Signal: ANOVA over 12 cells blocked by 4 seeds F(11, 33) = ")
    assert "p < 0.001" in footer and f"ICC {s.icc:.2f} ({100 * s.icc:.0f} % of a run's variance" in footer
    assert f"median seed std {s.median_seed_std:.3g}" in footer
    assert f"smallest detectable paired difference {s.detectable_paired:.3g} (α 0.05, power 0.8, 4 seeds)" in footer
    assert footer.endswith(f"seeds to separate best from runner-up: {s.seeds_to_separate}.")
    assert "\n" not in footer
    assert md.startswith("## Signal vs seed noise\n\n| figure | value |")
    for figure in (f"F(11, 33) = {s.f:.3g}", f"F(11, 36) = {s.f_oneway:.3g}", f"| ICC(1) | {s.icc:.2f} |",
                   f"{s.pooled_within_std:.3g}", f"{s.detectable_unpaired:.3g}", f"{s.sd_paired_diff:.3g}"):
        assert figure in md, figure
    assert "differ by more than seed noise" in md


def test_footer_not_significant():
    rng = np.random.default_rng(5)
    s = signal_summary(frame(noise_matrix(rng, 20, 5)), by=["g"])
    footer, md = render_signal(s)
    assert footer.startswith("Not distinguishable from seed noise: ANOVA over 20 cells blocked by 5 seeds F(19, 76)")
    assert f"p = {s.p:.2f}" in footer
    assert "not distinguishable from seed noise" in md and "do not read the ranking" in md


def test_without_replicates_one_cell_or_no_runs():
    single_seed = signal_summary(frame(np.array([[1.0], [2.0], [3.0]])), by=["g"])
    assert not single_seed.assessable and np.isnan(single_seed.f) and not single_seed.significant
    footer, md = render_signal(single_seed)
    assert footer.startswith("Signal cannot be assessed without replicates: every one of the 3 cells")
    assert md == f"## Signal vs seed noise\n\n{footer}\n"
    one_cell = signal_summary(frame(np.array([[1.0, 2.0, 3.0]])), by=["g"])
    assert not one_cell.assessable and one_cell.median_seed_std == pytest.approx(1.0)
    assert render_signal(one_cell).footer == (
        "Signal cannot be assessed: one cell only: nothing to compare (3 runs); median seed std 1.")
    empty = signal_summary(pd.DataFrame({"g": [0], "seed": [0], "value": [np.nan]}), by=["g"])
    assert not empty.assessable and "no finished runs" in render_signal(empty).footer


def test_nan_values_and_single_seed_cells():
    x = np.array([[1.0, 3.0, np.inf], [2.0, np.nan, 4.0], [7.0, np.nan, np.nan]])  # inf counts as missing
    s = signal_summary(frame(x), by=["g"])
    assert s.n_runs == 5 and s.n_replicated_cells == 2 and s.design == "one-way"
    ref = sps.f_oneway([1.0, 3.0], [2.0, 4.0], [7.0])  # the one-seed cell adds between-cell df only
    assert s.f == pytest.approx(ref.statistic) and s.df_error == 2
    # no two cells share two seeds: sd of differences = sqrt(2) · sqrt(MSW) = sqrt(2) · sqrt((2 + 2) / 2) = 2
    assert s.sd_source == "sqrt2 x pooled" and s.sd_paired_diff == pytest.approx(2.0)
    assert s.best_cell == {"g": 2} and s.runner_up_cell == {"g": 1} and s.sd_best_pair == pytest.approx(2.0)
    assert s.n_compare == 2 and s.seeds_to_separate == seeds_to_separate(7.0 - 3.0, 2.0)
    assert "√2 × pooled within-cell std" in render_signal(s).markdown


def test_zero_within_cell_variance_and_constant_study():
    s = signal_summary(frame(np.array([[1.0, 1.0], [2.0, 2.0]])), by=["g"])
    assert s.f == np.inf and s.p == 0.0 and s.significant and s.icc == 1.0 and s.f_oneway == np.inf
    assert s.seeds_to_separate == 2 and "F(1, 1) = ∞, p < 0.001" in render_signal(s).footer
    flat = signal_summary(frame(np.ones((3, 2))), by=["g"])
    assert np.isnan(flat.f) and not flat.significant and np.isnan(flat.icc)
    assert "F undefined" in render_signal(flat).footer and "ICC undefined" in render_signal(flat).footer


def test_lower_is_better_and_to_dict():
    s = signal_summary(frame(HAND), by=["g"], higher_is_better=False)
    assert s.best_cell == {"g": 0} and s.runner_up_cell == {"g": 1}
    d = s.to_dict()
    assert d["f"] == pytest.approx(27.0) and d["design"] == "blocked" and d["seeds_to_separate"] == 4
    assert json.loads(json.dumps(d))["best_cell"] == {"g": 0}  # plain Python values throughout


def test_one_way_and_blocked_reject_bad_input():
    with pytest.raises(ValueError, match="group sizes"):
        one_way_anova(np.array([[1.0], [2.0]]))
    with pytest.raises(ValueError, match="complete matrix"):
        blocked_anova(np.array([[1.0, np.nan], [2.0, 3.0]]))
