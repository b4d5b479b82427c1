"""How much of a study's spread is signal (the loss weights) and how much is seed noise.

`signal_summary` computes every figure a table footer or a report needs; `render_signal` turns it
into the footer line and the ``## Signal vs seed noise`` Markdown section (pure strings).

Choices (documented in docs/analysis.md):

- **A replicate is a seed.** Runs go through `stats.cell_seed_matrix` (non-finite values dropped,
  duplicate (cell, seed) runs averaged), so every figure below works on the cells × seeds matrix.
- **One-way ANOVA over cells**: identical to ``scipy.stats.f_oneway`` on the cells' runs (tested).
  Cells with one seed add to the between-cell sum of squares only.
- **Blocked ANOVA** (randomized complete block, cell + seed, no interaction): runs with the same seed
  share data order, augmentation and initialisation, so the seed is a block. It is fitted on the seeds
  that *every* cell has (runs of other seeds are left out of this fit only); with fewer than two such
  seeds it is not fitted and the verdict falls back to the one-way ANOVA. ``design`` says which one
  the verdict (``f``, ``p``, ``significant``) used.
- **ICC(1)** from the one-way mean squares, unbalanced groups through the effective group size n0
  (see `intraclass_correlation`). It is algebraically the share of a run's variance due to the cell
  under the one-way random-effects model; the blocked fit further splits the seed part into the
  seed block (shared by all cells) and seed × cell noise.
- **Smallest detectable difference**: the true difference a two-sided paired t-test over the study's
  seed count detects with the requested power, from the noncentral t distribution. The sd of paired
  differences is pooled over every pair of cells within seeds (on complete data exactly
  sqrt(2 · MS_error) of the blocked ANOVA, tested); without any pair of cells sharing two seeds it is
  sqrt(2) · the pooled within-cell sd.
- **Seeds to separate best from runner-up**: the smallest n whose paired-test power reaches the
  target for the observed gap between the two best cell means and the sd of their paired differences
  (the pooled one when they share fewer than two seeds); None when not reached by ``n_max``. The gap
  is itself estimated from the same data (winner's curse), so read it as optimistic.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import NamedTuple, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

from tipsd.analysis.stats import cell_seed_matrix
from tipsd.model.config import GAMMA_NAMES

N_MAX = 1000  # largest seed count `seeds_to_separate` tries
_ZERO = 1e-12  # a sum of squares below this share of the total is rounding, i.e. exactly 0


class AnovaTest(NamedTuple):
    """One F test: the effect's and the error's degrees of freedom and mean squares, F and p."""

    f: float
    df_effect: int
    df_error: int
    p: float
    ms_effect: float
    ms_error: float


def _f_test(ss_effect: float, df_effect: int, ss_error: float, df_error: int, ss_total: float) -> AnovaTest:
    ms_e = ss_effect / df_effect
    ms_r = ss_error / df_error if ss_error > _ZERO * ss_total else 0.0
    if ms_r > 0:
        f = ms_e / ms_r
    else:  # no error variance: any effect is infinitely significant, no effect is undefined
        f = np.inf if ms_e > 0 else np.nan
    p = float(stats.f.sf(f, df_effect, df_error)) if np.isfinite(f) else (0.0 if f == np.inf else np.nan)
    return AnovaTest(float(f), int(df_effect), int(df_error), p, float(ms_e), float(ms_r))


def one_way_anova(x: np.ndarray) -> AnovaTest:
    """One-way ANOVA over the rows (cells) of a cells × seeds matrix; NaN = missing run.

    Raises:
        ValueError: fewer than two cells with a run, or no cell with two runs (no error df).

    Example:
        >>> round(one_way_anova(np.array([[1.0, 3, 5], [4, 5, 9]])).f, 4)  # MSB 13.5 / MSW 5.5
        2.4545
    """
    rows = [r[np.isfinite(r)] for r in np.asarray(x, dtype=float)]
    rows = [r for r in rows if r.size]
    n = np.array([r.size for r in rows])
    if len(rows) < 2 or n.sum() - len(rows) < 1:
        sizes = ", ".join(str(int(k)) for k in n)
        raise ValueError(f"one-way ANOVA needs two cells and a replicate, got group sizes {sizes}")
    grand = np.concatenate(rows).mean()
    ss_b = float(sum(r.size * (r.mean() - grand) ** 2 for r in rows))
    ss_w = float(sum(((r - r.mean()) ** 2).sum() for r in rows))
    return _f_test(ss_b, len(rows) - 1, ss_w, int(n.sum()) - len(rows), ss_b + ss_w)


def blocked_anova(x: np.ndarray) -> tuple[AnovaTest, AnovaTest]:
    """Randomized-complete-block ANOVA (cell + seed, additive) of a complete cells × seeds matrix.

    Returns:
        ``(cells, seeds)``: the F test of the cells and of the seed blocks, both against the
        residual (seed × cell) mean square with (C − 1)(S − 1) degrees of freedom.

    Example:
        >>> cells, seeds = blocked_anova(np.array([[1.0, 3, 5], [4, 5, 9]]))
        >>> cells.f, seeds.f, cells.ms_error  # SS cell 13.5, seed 21, residual 1 on 2 df
        (27.0, 21.0, 0.5)
    """
    y = np.asarray(x, dtype=float)
    c, s = y.shape
    if not np.isfinite(y).all() or c < 2 or s < 2:
        raise ValueError(f"blocked ANOVA needs a complete matrix of >= 2 cells x >= 2 seeds, got {c} x {s}")
    grand, rm, cm = y.mean(), y.mean(axis=1), y.mean(axis=0)
    ss_c, ss_s = s * float(((rm - grand) ** 2).sum()), c * float(((cm - grand) ** 2).sum())
    ss_r = float(((y - rm[:, None] - cm[None, :] + grand) ** 2).sum())
    ss_t, df_r = float(((y - grand) ** 2).sum()), (c - 1) * (s - 1)
    return _f_test(ss_c, c - 1, ss_r, df_r, ss_t), _f_test(ss_s, s - 1, ss_r, df_r, ss_t)


def effective_group_size(sizes: Sequence[int]) -> float:
    """n0 = (N − Σ n_i² / N) / (k − 1): the group size of a balanced design with the same E[MSB].

    Snedecor & Cochran, *Statistical Methods* (8th ed., 1989), §13.7; Donner (1986), *Int. Stat. Rev.*
    54:67–82. Equals n for k groups of n.

    Example:
        >>> round(effective_group_size([2, 3, 4]), 4)  # (9 - 29/9) / 2
        2.8889
    """
    n = np.asarray(sizes, dtype=float)
    big_n = n.sum()
    return float((big_n - (n**2).sum() / big_n) / (len(n) - 1))


def intraclass_correlation(ms_between: float, ms_within: float, n0: float) -> float:
    """ICC(1) = (MSB − MSW) / (MSB + (n0 − 1) · MSW), unclipped (negative when MSB < MSW).

    Shrout & Fleiss (1979), *Psychol. Bull.* 86:420–428, ICC(1, 1); McGraw & Wong (1996),
    *Psychol. Methods* 1:30–46, ICC(1); n0 from `effective_group_size` for unequal seed counts.

    Example:
        >>> round(intraclass_correlation(13.5, 5.5, 3), 5)  # 8 / 24.5
        0.32653
    """
    denom = ms_between + (n0 - 1) * ms_within
    return float((ms_between - ms_within) / denom) if denom > 0 else float("nan")


def paired_difference_sd(x: np.ndarray) -> float:
    """sd of within-seed differences between cells, pooled over every pair sharing >= 2 seeds.

    Each pair contributes Σ_s (d_s − mean d)² on (shared seeds − 1) df. NaN when no pair qualifies.

    Example:
        >>> paired_difference_sd(np.array([[1.0, 3, 5], [4, 5, 9]]))  # d = 3, 2, 4
        1.0
    """
    y = np.asarray(x, dtype=float)
    ok = np.isfinite(y)
    ss, df = 0.0, 0
    for i in range(len(y) - 1):
        shared = ok[i] & ok[i + 1 :]  # (rest, S)
        d = np.where(shared, y[i] - y[i + 1 :], 0.0)
        n = shared.sum(axis=1)
        mean = d.sum(axis=1) / np.maximum(n, 1)
        ss_pair = np.where(shared, (d - mean[:, None]) ** 2, 0.0).sum(axis=1)
        ss += float(ss_pair[n >= 2].sum())
        df += int((n[n >= 2] - 1).sum())
    return float(np.sqrt(ss / df)) if df else float("nan")


def t_test_power(effect: float, sd: float, n, *, alpha: float = 0.05, paired: bool = True):
    """Power of the two-sided t-test for a true difference `effect` (noncentral t).

    Paired: n pairs, `sd` of the paired differences, df n − 1, noncentrality effect·√n / sd.
    Unpaired: n runs per cell, `sd` within cells, df 2n − 2, noncentrality effect / (sd·√(2/n)).
    `n` may be an array. With sd = 0 the power is 1 for any non-zero effect.

    Example:
        >>> round(float(t_test_power(1.0, 1.0, 10)), 4)
        0.8031
    """
    n = np.asarray(n, dtype=float)
    df = n - 1 if paired else 2 * n - 2
    if sd == 0:
        return np.full(n.shape, 1.0 if effect else alpha)
    nc = abs(effect) / sd * (np.sqrt(n) if paired else np.sqrt(n / 2))
    tc = stats.t.ppf(1 - alpha / 2, df)
    # P(T > tc) + P(T < −tc); the lower tail as sf at −nc (scipy's nct.cdf far in the tail can be NaN)
    return stats.nct.sf(tc, df, nc) + np.nan_to_num(stats.nct.sf(tc, df, -nc))


def detectable_difference(
    sd: float, n: int, *, alpha: float = 0.05, power: float = 0.8, paired: bool = True
) -> float:
    """Smallest true difference that `t_test_power` detects with `power` (NaN when sd is unknown).

    Example:
        >>> round(detectable_difference(1.0, 10), 4)  # the inverse of the t_test_power example
        0.996
    """
    if n < 2 or not np.isfinite(sd):
        return float("nan")
    if sd == 0:
        return 0.0
    def shortfall(effect: float) -> float:  # in units of sd; power(0) = alpha < target
        return float(t_test_power(effect, 1.0, n, alpha=alpha, paired=paired)) - power

    hi = 10.0
    while shortfall(hi) < 0:
        hi *= 2
    return float(optimize.brentq(shortfall, 0.0, hi, xtol=1e-10) * sd)


def seeds_to_separate(
    difference: float, sd: float, *, alpha: float = 0.05, power: float = 0.8, n_max: int = N_MAX
) -> int | None:
    """Smallest n >= 2 whose paired t-test has `power` for `difference`; None if above `n_max`.

    Raises:
        ValueError: `sd` is NaN or negative.

    Example:
        >>> seeds_to_separate(1.0, 1.0)  # power 0.80 at 10, 0.76 at 9
        10
    """
    if not (sd >= 0):
        raise ValueError(f"seeds_to_separate needs a non-negative sd of paired differences, got {sd}")
    if difference == 0:
        return None

    def reached(n: int) -> bool:
        return bool(t_test_power(difference, sd, n, alpha=alpha) >= power)

    if not reached(n_max):
        return None
    lo, hi = 1, n_max  # power grows with n: bisect for the first n that reaches it (n = 1 has no test)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if reached(mid) else (mid, hi)
    return hi


@dataclass(frozen=True)
class SignalSummary:
    """What `render_signal` writes. Stds and differences are in metric units, shares in [0, 1]; a
    figure that cannot be computed (e.g. everything after ``reason`` when not assessable) is NaN."""

    metric: str  # the column analysed
    alpha: float  # level of the verdict and of the power computations (two-sided)
    power: float  # target power of the detectable difference and the seeds needed
    n_runs: int  # finite (cell, seed) values after averaging duplicate runs
    n_cells: int
    n_seeds: int  # distinct seeds in the study
    n_replicated_cells: int  # cells with >= 2 seeds
    assessable: bool  # False without runs, with one cell, or without replicates
    reason: str = ""  # why not assessable
    design: str = ""  # "blocked" or "one-way": the test behind f, df_cells, df_error, p, significant
    f: float = np.nan  # the verdict's F over cells (inf when the error variance is 0)
    df_cells: int = 0
    df_error: int = 0
    p: float = np.nan
    significant: bool = False  # p < alpha
    f_oneway: float = np.nan  # one-way ANOVA over all runs (df_cells, df_oneway_error)
    df_oneway_error: int = 0
    p_oneway: float = np.nan
    n_block_seeds: int = 0  # seeds every cell has: the blocked fit's seeds (0 = not fitted)
    f_blocked: float = np.nan  # cells in the blocked fit (df_cells, df_blocked_error)
    df_blocked_error: int = 0
    p_blocked: float = np.nan
    f_seed: float = np.nan  # seed blocks in the blocked fit (n_block_seeds - 1, df_blocked_error)
    p_seed: float = np.nan
    ms_between: float = np.nan  # one-way mean squares
    ms_within: float = np.nan
    n0: float = np.nan  # effective seeds per cell (`effective_group_size`)
    icc: float = np.nan  # ICC(1) clipped to [0, 1]; NaN when no run differs from another
    icc_unclipped: float = np.nan
    share_weights: float = np.nan  # variance components of the blocked fit; one-way: icc, NaN, 1 - icc
    share_seed_block: float = np.nan
    share_seed_noise: float = np.nan
    median_seed_std: float = np.nan  # median over cells with >= 2 seeds of the seed std (ddof 1)
    pooled_within_std: float = np.nan  # sqrt(MSW)
    n_compare: int = 0  # seeds per cell of the detectable differences: median over cells, at least 2
    sd_paired_diff: float = np.nan  # sd of within-seed differences between cells
    sd_source: str = ""  # "paired" (pooled over cell pairs) or "sqrt2 x pooled" (sqrt(2) x pooled_within_std)
    detectable_paired: float = np.nan  # smallest true difference found with `power` by a paired t-test
    detectable_unpaired: float = np.nan  # the same for a two-sample t-test (sd = pooled_within_std)
    best_cell: dict = field(default_factory=dict)  # the varying `by` columns of the best cell
    runner_up_cell: dict = field(default_factory=dict)
    best_mean: float = np.nan
    runner_up_mean: float = np.nan
    sd_best_pair: float = np.nan  # sd of their paired differences (sd_paired_diff if < 2 shared seeds)
    seeds_to_separate: int | None = None  # None: more than n_max
    n_max: int = N_MAX

    def to_dict(self) -> dict:
        """Plain Python values (NaN stays float NaN), e.g. for JSON or a one-row DataFrame."""
        return {k: (float(v) if isinstance(v, np.floating) else v) for k, v in asdict(self).items()}


def signal_summary(
    runs: pd.DataFrame,
    metric: str = "value",
    *,
    by: Sequence[str] = GAMMA_NAMES,
    higher_is_better: bool = True,
    alpha: float = 0.05,
    power: float = 0.8,
    n_max: int = N_MAX,
) -> SignalSummary:
    """Signal (the weights) vs seed noise of a study: ANOVAs, ICC, seed spread, detectable differences.

    Args:
        runs: finished runs (`load_runs`), one row per run with `by`, ``seed`` and `metric`.
        metric: the column analysed.
        by: the columns that define a cell.
        higher_is_better: direction of `metric` (which cell is the best and the runner-up).
        alpha: level of the ANOVA verdict and of the power computations (two-sided).
        power: target power of the detectable difference and of the seeds needed.
        n_max: largest seed count tried for ``seeds_to_separate``.

    Returns:
        A `SignalSummary`.

    Example:
        >>> r = pd.DataFrame({"g": [0] * 3 + [1] * 3, "seed": [0, 1, 2] * 2,
        ...                   "value": [1.0, 3, 5, 4, 5, 9]})
        >>> s = signal_summary(r, by=["g"])
        >>> s.design, s.f, round(s.p, 4), round(s.icc, 4)
        ('blocked', 27.0, 0.0351, 0.3265)
    """
    data = runs[np.isfinite(pd.to_numeric(runs[metric], errors="coerce"))]
    cells, seeds, x = cell_seed_matrix(data, metric, by)
    sizes = np.isfinite(x).sum(axis=1)
    base = dict(metric=metric, alpha=alpha, power=power, n_runs=int(sizes.sum()), n_cells=len(cells),
                n_seeds=len(seeds), n_replicated_cells=int((sizes >= 2).sum()), n_max=n_max)
    stds = [np.nanstd(r, ddof=1) for r in x[sizes >= 2]]
    median_std = float(np.median(stds)) if stds else np.nan
    if not len(cells):
        return SignalSummary(**base, assessable=False, reason="no finished runs with a value")
    if len(cells) < 2:
        return SignalSummary(**base, assessable=False, reason="one cell only: nothing to compare",
                             median_seed_std=median_std)
    if not stds:
        return SignalSummary(**base, assessable=False, reason="no replicates: every cell has a single seed")

    one = one_way_anova(x)
    n0 = effective_group_size(sizes)
    icc = intraclass_correlation(one.ms_effect, one.ms_error, n0)
    common = np.isfinite(x).all(axis=0)
    out = dict(f_oneway=one.f, df_oneway_error=one.df_error, p_oneway=one.p, ms_between=one.ms_effect,
               ms_within=one.ms_error, n0=n0, icc_unclipped=icc, icc=float(np.clip(icc, 0, 1)),
               median_seed_std=median_std, pooled_within_std=float(np.sqrt(one.ms_error)))
    if common.sum() >= 2:
        cell_t, seed_t = blocked_anova(x[:, common])
        s_b, c_b = int(common.sum()), len(cells)
        # variance components of the two-way model: weights, seed block, seed x cell (negatives -> 0)
        comp = np.clip([(cell_t.ms_effect - cell_t.ms_error) / s_b,
                        (seed_t.ms_effect - seed_t.ms_error) / c_b, cell_t.ms_error], 0, None)
        shares = comp / comp.sum() if comp.sum() > 0 else np.full(3, np.nan)
        test = cell_t
        out.update(design="blocked", n_block_seeds=s_b, f_blocked=cell_t.f, df_blocked_error=cell_t.df_error,
                   p_blocked=cell_t.p, f_seed=seed_t.f, p_seed=seed_t.p, share_weights=float(shares[0]),
                   share_seed_block=float(shares[1]), share_seed_noise=float(shares[2]))
    else:
        test = one
        out.update(design="one-way", share_weights=out["icc"], share_seed_noise=1 - out["icc"])
    out.update(f=test.f, df_cells=test.df_effect, df_error=test.df_error, p=test.p,
               significant=bool(test.p < alpha))

    sd_d = paired_difference_sd(x)
    source = "paired"
    if not np.isfinite(sd_d):
        sd_d, source = float(np.sqrt(2) * out["pooled_within_std"]), "sqrt2 x pooled"
    n_cmp = max(2, int(np.floor(np.median(sizes))))
    out.update(n_compare=n_cmp, sd_paired_diff=sd_d, sd_source=source,
               detectable_paired=detectable_difference(sd_d, n_cmp, alpha=alpha, power=power),
               detectable_unpaired=detectable_difference(out["pooled_within_std"], n_cmp, alpha=alpha,
                                                         power=power, paired=False))

    means = np.nanmean(x, axis=1)
    order = np.argsort(-means if higher_is_better else means, kind="stable")
    best, second = int(order[0]), int(order[1])
    varying = [c for c in cells.columns if cells[c].nunique(dropna=False) > 1]
    sd_pair = paired_difference_sd(x[[best, second]])
    sd_pair = sd_pair if np.isfinite(sd_pair) else sd_d
    out.update(best_cell={c: cells.loc[best, c].item() for c in varying},
               runner_up_cell={c: cells.loc[second, c].item() for c in varying},
               best_mean=float(means[best]), runner_up_mean=float(means[second]), sd_best_pair=sd_pair,
               seeds_to_separate=seeds_to_separate(means[best] - means[second], sd_pair, alpha=alpha,
                                                   power=power, n_max=n_max))
    return SignalSummary(**base, assessable=True, **out)


class SignalText(NamedTuple):
    """The footer line under a table and the Markdown report section."""

    footer: str
    markdown: str


def _num(v: float) -> str:
    """Three significant digits, no exponent for ordinary metric values; "∞" and "–" for inf / NaN."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    if np.isinf(v):
        return "∞"
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"


def _p(p: float) -> str:
    if np.isnan(p):
        return "p undefined"
    return "p < 0.001" if p < 0.001 else (f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}")


def _f(f: float, df1: int, df2: int) -> str:
    return "F undefined (every run has the same value)" if np.isnan(f) else f"F({df1}, {df2}) = {_num(f)}"


def _pct(share: float) -> str:
    return f"{100 * share:.0f} %"


def _cell(cell: dict) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}" for k, v in cell.items())


def render_signal(s: SignalSummary) -> SignalText:
    """The one-line table footer and the ``## Signal vs seed noise`` Markdown section of `s`.

    Example:
        >>> r = pd.DataFrame({"g": [0] * 3 + [1] * 3, "seed": [0, 1, 2] * 2,
        ...                   "value": [1.0, 3, 5, 4, 5, 9]})
        >>> print(render_signal(signal_summary(r, by=["g"])).footer)  # doctest: +NORMALIZE_WHITESPACE
        Signal: ANOVA over 2 cells blocked by 3 seeds F(1, 2) = 27, p = 0.035; ICC 0.33 (33 % of a
        run's variance is due to the weights, 67 % to the seed); median seed std 2.32; smallest
        detectable paired difference 3.26 (α 0.05, power 0.8, 3 seeds); seeds to separate best from
        runner-up: 4.
    """
    if not s.assessable:
        extra = f"; median seed std {_num(s.median_seed_std)}" if np.isfinite(s.median_seed_std) else ""
        line = f"Signal cannot be assessed: {s.reason} ({s.n_runs} runs){extra}."
        if s.reason.startswith("no replicates"):
            line = (f"Signal cannot be assessed without replicates: every one of the {s.n_cells} cells "
                    f"has a single seed ({s.n_runs} runs); run two or more seeds per cell.")
        return SignalText(line, f"## Signal vs seed noise\n\n{line}\n")

    clipped = s.icc != s.icc_unclipped and not np.isnan(s.icc)
    icc = "ICC undefined (no variance at all)" if np.isnan(s.icc) else (
        f"ICC {s.icc:.2f} ({_pct(s.icc)} of a run's variance is due to the weights, {_pct(1 - s.icc)} to the "
        f"seed" + (f", clipped from {s.icc_unclipped:.2f})" if clipped else ")"))
    blocked = f" blocked by {s.n_block_seeds} seeds" if s.design == "blocked" else ""
    anova = f"ANOVA over {s.n_cells} cells{blocked} {_f(s.f, s.df_cells, s.df_error)}, {_p(s.p)}"
    need = str(s.seeds_to_separate) if s.seeds_to_separate else f"> {s.n_max}"
    gap = s.best_mean - s.runner_up_mean
    footer = (f"{'Signal' if s.significant else 'Not distinguishable from seed noise'}: {anova}; {icc}; "
              f"median seed std {_num(s.median_seed_std)}; smallest detectable paired difference "
              f"{_num(s.detectable_paired)} (α {s.alpha:g}, power {s.power:g}, {s.n_compare} seeds); "
              f"seeds to separate best from runner-up: {need}.")

    rows = [("cells × seeds", f"{s.n_cells} cells, {s.n_seeds} seeds ({s.n_runs} runs, "
                              f"{s.n_replicated_cells} cells with >= 2 seeds)")]
    if s.design == "blocked":
        rows += [(f"ANOVA over cells, blocked by seed ({s.n_block_seeds} seeds every cell has)",
                  f"{_f(s.f_blocked, s.df_cells, s.df_blocked_error)}, {_p(s.p_blocked)}"),
                 ("seed blocks", f"{_f(s.f_seed, s.n_block_seeds - 1, s.df_blocked_error)}, {_p(s.p_seed)}")]
    rows += [("one-way ANOVA over cells",
              f"{_f(s.f_oneway, s.n_cells - 1, s.df_oneway_error)}, {_p(s.p_oneway)}"),
             ("ICC(1)", f"{s.icc:.2f}" + (f" (estimate {s.icc_unclipped:.2f}, clipped)" if clipped else ""))]
    if s.design == "blocked" and np.isfinite(s.share_weights):
        rows.append(("variance: weights / seed block / seed × cell", " / ".join(
            _pct(v) for v in (s.share_weights, s.share_seed_block, s.share_seed_noise))))
    how = "within seeds, pooled over cell pairs" if s.sd_source == "paired" else "√2 × pooled within-cell std"
    rows += [("median seed std (ddof 1)", _num(s.median_seed_std)),
             ("pooled within-cell std (√MSW)", _num(s.pooled_within_std)),
             ("sd of paired cell differences", f"{_num(s.sd_paired_diff)} ({how})"),
             (f"smallest detectable difference, paired ({s.n_compare} seeds)", _num(s.detectable_paired)),
             (f"smallest detectable difference, unpaired ({s.n_compare} seeds per cell)",
              _num(s.detectable_unpaired)),
             ("best − runner-up", f"{_num(gap)} ({_cell(s.best_cell)} vs {_cell(s.runner_up_cell)}; "
                                  f"sd of their paired differences {_num(s.sd_best_pair)})"),
             ("seeds to separate best from runner-up", need)]
    table = "\n".join(["| figure | value |", "| --- | --- |"] + [f"| {a} | {b} |" for a, b in rows])

    level = "" if np.isnan(s.p) else (" < α " if s.significant else " ≥ α ") + f"{s.alpha:g}"
    text = (f"The cells differ by more than seed noise would produce ({_p(s.p)}{level}, {s.design} ANOVA)."
            if s.significant else f"The cells are not distinguishable from seed noise ({_p(s.p)}{level}, "
            f"{s.design} ANOVA): do not read the ranking of the cells as an effect of the weights.")
    if not np.isnan(s.icc):
        text += (f" The weights account for {_pct(s.icc)} of the variance of one run's {s.metric}, the seed "
                 f"for the other {_pct(1 - s.icc)} (ICC(1)).")
    text += (f" With {s.n_compare} seeds, a paired test detects a true difference of {_num(s.detectable_paired)}"
             f" between two cells with power {s.power:g}; smaller differences will usually be missed. The best "
             f"cell leads the runner-up by {_num(gap)}; confirming that gap would take "
             f"{need.replace('>', 'more than')} seeds per cell (an optimistic figure: the gap is measured on the "
             f"same runs that picked the best).")
    return SignalText(footer, f"## Signal vs seed noise\n\n{table}\n\n{text}\n")
