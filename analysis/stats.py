"""Statistics over seeds that a reviewer asks for: is a cell distinguishable from the best one, and
how likely is each cell to be the best.

Choices (documented in docs/analysis.md):

- **Blocked by seed, pooled error** (`blocked_comparison`). Runs with the same seed share data order,
  augmentation and initialisation, so the seed is a block: the cells × seeds values are fitted with
  the additive two-way model value = cell effect + seed effect + error (a randomized complete block
  design; Montgomery, *Design and Analysis of Experiments*, ch. 4; least squares, so missing runs are
  allowed). Each cell is compared with the best by a t-test of the difference of their cell effects,
  with the error mean square pooled over every cell: df = runs − cells − seeds + 1, not the paired
  t-test's pairs − 1. At 3 seeds and 16 cells that is 30 df instead of 2, which is what lets racing
  separate clearly worse cells at `min` seeds (docs/racing.md). The price: it assumes every cell has
  the same seed noise; `paired_t_pvalue` (the per-pair test) is kept for that check.
- **Friedman gate**: no cell is distinguishable unless the Friedman test over the seeds every cell
  has rejects "all cells equal" at α (`friedman_rejects`; F-race's pre-test). Racing uses the same
  gate each round; in its simulation it kept the near-best cells in 97.5 % of studies instead of
  93.5 % without it (docs/racing.md).
- **Holm correction** across the cells tested against the best (family-wise error ≤ α, valid under any
  dependence between the tests, and uniformly more powerful than Bonferroni).
- **Probability of being best**: bootstrap over seeds. Each replicate draws the seed list with
  replacement (the same draw for every cell, keeping the pairing), takes each cell's mean over the
  drawn seeds and records which cell wins; ties share the win. Seeded RNG, so a report is reproducible.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from tipsd.model.record import GAMMA_NAMES


def cell_seed_matrix(
    runs: pd.DataFrame, metric: str = "value", by: Sequence[str] = GAMMA_NAMES
) -> tuple[pd.DataFrame, list[int], np.ndarray]:
    """Cells × seeds matrix of `metric` (NaN where a cell lacks a seed; duplicates averaged).

    Returns:
        ``(cells, seeds, X)``: the cells (one row per cell, columns `by`, sorted), the seeds
        (sorted) and ``X`` of shape ``(len(cells), len(seeds))``.

    Example:
        >>> r = pd.DataFrame({"g": [0, 0, 1], "seed": [0, 1, 0], "value": [1.0, 2.0, 3.0]})
        >>> cell_seed_matrix(r, by=["g"])[2].tolist()
        [[1.0, 2.0], [3.0, nan]]
    """
    by = list(by)
    data = runs.dropna(subset=[metric]).copy()
    data["seed"] = data["seed"].fillna(-1).astype(int)  # a run without a seed still counts once
    wide = data.pivot_table(index=by, columns="seed", values=metric, aggfunc="mean", dropna=False)
    wide = wide.dropna(how="all")
    cells = wide.index.to_frame(index=False)
    cells.columns = by
    return cells, [int(s) for s in wide.columns], wide.to_numpy(dtype=float)


def paired_t_pvalue(diffs: np.ndarray) -> float:
    """Two-sided p-value of the paired t-test that the mean of `diffs` is 0 (NaN for < 2 pairs).

    Identical non-zero differences (zero spread) give p = 0; all-zero differences give p = 1.

    Example:
        >>> round(paired_t_pvalue(np.array([1.0, 2.0, 3.0])), 4)
        0.0742
    """
    from scipy import stats

    d = np.asarray(diffs, dtype=float)
    d = d[np.isfinite(d)]
    n = d.size
    if n < 2:
        return float("nan")
    sd = d.std(ddof=1)
    if sd == 0:
        return 1.0 if d.mean() == 0 else 0.0
    t = d.mean() / (sd / np.sqrt(n))
    return float(2 * stats.t.sf(abs(t), n - 1))


def blocked_comparison(x: np.ndarray, higher_is_better: bool = True, among: np.ndarray | None = None) -> dict:
    """Every cell against the best one: cell + seed additive model, pooled error, t-test per cell.

    Least squares fit of ``x[c, s] = mu + a_c + b_s + e`` on the finite entries of `x` (the
    randomized-complete-block ANOVA when no entry is missing); the error mean square
    ``sigma2 = RSS / df`` (``df = runs − rank``) is pooled over all cells. Cell c is tested against
    the best by ``t = (a_best − a_c) / sqrt(sigma2 · v_c)``, ``v_c`` the contrast's variance factor
    (``2 / seeds`` when complete), two-sided, ``df`` degrees of freedom.

    Args:
        x: ``(cells, seeds)`` values, NaN where a run is missing.
        higher_is_better: direction of the values.
        among: optional ``(cells,)`` bool, the cells that compete (the best is chosen among them and
            only they are tested; the others still feed the error estimate). Default: all.

    Returns:
        ``best`` (index of the cell with the best raw mean among `among`; ties: lowest index; None
        when no value), and per cell arrays ``mean`` (raw mean over its values), ``n_pairs`` (seeds
        shared with the best), ``mean_diff`` (best − cell, fitted effects; > 0 when worse if higher is
        better), ``p`` (two-sided p-value; NaN for the best, cells outside `among`, cells with fewer
        than 2 seeds shared with the best, or no error df), and ``df`` (int).
        A zero error (every value exactly additive) gives p = 0 for a non-zero difference, 1 otherwise.

    Example:
        >>> x = np.array([[10.0, 12.0, 14.0], [9.0, 10.9, 13.1], [5.0, 7.0, 9.2]])
        >>> r = blocked_comparison(x)
        >>> r["best"], r["df"], r["mean_diff"].round(3).tolist(), np.round(r["p"], 5).tolist()
        (0, 4, [0.0, 1.0, 4.933], [nan, 5e-05, 0.0])
    """
    from scipy import stats

    x = np.asarray(x, dtype=float)
    k, n_seeds = x.shape
    among = np.ones(k, dtype=bool) if among is None else np.asarray(among, dtype=bool)
    present = np.isfinite(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(present, x, 0.0).sum(axis=1) / present.sum(axis=1)  # NaN: no value
    out = {"best": None, "mean": mean, "n_pairs": np.zeros(k, dtype=int), "mean_diff": np.full(k, np.nan),
           "p": np.full(k, np.nan), "df": 0}
    score = np.where(among & np.isfinite(mean), mean if higher_is_better else -mean, -np.inf)
    if not np.isfinite(score).any():
        return out
    b = int(np.argmax(score))
    out["best"] = b
    # Normal equations of the one-hot cell + seed design, cells eliminated first (their block is
    # diagonal): the seeds' Schur complement is seeds x seeds, so a 1000-cell grid costs no more
    # than a few small matrices (a dense pinv of the full design took minutes there).
    shared = present & present[b]
    out["n_pairs"] = shared.sum(axis=1)
    counts = present.astype(float)  # (k, S) incidence N
    n_cell = counts.sum(axis=1)
    has = n_cell > 0
    y0 = np.where(present, x, 0.0)
    u = np.divide(counts, n_cell[:, None], out=np.zeros_like(counts), where=has[:, None])  # D_c^-1 N
    schur = np.diag(counts.sum(axis=0)) - counts.T @ u  # (S, S): D_s − N' D_c^-1 N
    schur_pinv = np.linalg.pinv(schur)
    cell_mean = np.divide(y0.sum(axis=1), n_cell, out=np.zeros(k), where=has)
    seed_eff = schur_pinv @ (y0.sum(axis=0) - counts.T @ cell_mean)  # (S,)
    cell_eff = cell_mean - u @ seed_eff  # (k,)
    diff = cell_eff[b] - cell_eff
    out["mean_diff"] = np.where(np.arange(k) == b, 0.0, np.where(has, diff, np.nan))
    df = int(present.sum() - has.sum() - np.linalg.matrix_rank(schur))
    out["df"] = df
    if df < 1:
        return out
    resid = np.where(present, x - cell_eff[:, None] - seed_eff[None, :], 0.0)
    sigma2 = float((resid ** 2).sum() / df)
    y = x[present]
    w = u[b][None, :] - u  # (k, S): the contrast a_best − a_c through the seed block
    with np.errstate(invalid="ignore", divide="ignore"):
        var = 1.0 / n_cell[b] + 1.0 / n_cell + np.einsum("ij,jk,ik->i", w, schur_pinv, w)
    sign = 1.0 if higher_is_better else -1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        t = sign * diff / np.sqrt(sigma2 * var)
        p = 2 * stats.t.sf(np.abs(t), df)
    if sigma2 <= 1e-24 * max(1.0, float(np.mean(y ** 2))):
        p = np.where(np.abs(diff) > 1e-9 * max(1.0, float(np.abs(y).max())), 0.0, 1.0)
    testable = among & (out["n_pairs"] >= 2) & (np.arange(k) != b)
    out["p"] = np.where(testable, p, np.nan)
    return out


def friedman_rejects(x: np.ndarray, level: float) -> bool:
    """The Friedman test (cells as treatments, seeds as blocks) over the seeds every cell has rejects
    "all cells equal" at `level`; True when it cannot be run (under 3 cells or 2 complete seeds),
    so the pairwise tests alone decide, as F-race does with two candidates.

    Example:
        >>> friedman_rejects(np.array([[1.0, 2.0], [1.1, 2.1], [0.9, 1.9]]), 0.05)
        False
    """
    from scipy import stats

    x = np.asarray(x, dtype=float)
    block = x[:, np.isfinite(x).all(axis=0)]  # (cells, complete seeds)
    if x.shape[0] < 3 or block.shape[1] < 2:
        return True
    return bool(stats.friedmanchisquare(*block).pvalue < level)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (NaN inputs stay NaN and do not count in the family).

    Example:
        >>> holm([0.01, 0.04, 0.03]).tolist()
        [0.03, 0.06, 0.06]
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    m = idx.size
    if m == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def compare_to_best(
    runs: pd.DataFrame,
    metric: str = "value",
    *,
    by: Sequence[str] = GAMMA_NAMES,
    higher_is_better: bool = True,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Test every cell against the best cell (`blocked_comparison`), Holm-corrected across cells.

    The same comparison racing uses for each of its rounds (`tipsd.analysis.racing.decide_round`).

    Args:
        runs: finished runs (`load_runs`).
        metric: the column compared.
        by: the columns that define a cell.
        higher_is_better: direction of `metric`.
        alpha: family-wise error level of the Holm procedure.

    Returns:
        One row per cell: `by`, ``mean`` (over its seeds), ``is_best``, ``n_pairs`` (seeds shared with
        the best), ``mean_diff`` (best − cell, fitted cell effects of the seed-blocked model;
        positive = worse than best when higher is better), ``p_value``, ``p_holm``, ``tested`` (at least 2 shared seeds) and ``distinguishable``
        (tested and ``p_holm < alpha``).

    Example:
        >>> r = pd.DataFrame({"g": [0, 0, 0, 1, 1, 1], "seed": [0, 1, 2] * 2,
        ...                   "value": [1.0, 2.0, 3.0, 2.0, 4.0, 6.0]})
        >>> round(float(compare_to_best(r, by=["g"]).loc[0, "p_value"]), 4)  # 3 values, 2 df
        0.0742
    """
    cells, _, x = cell_seed_matrix(runs, metric, by)
    out = cells.copy()
    out["mean"] = np.nanmean(x, axis=1) if x.size else np.array([])
    if not len(cells):
        for c in ("is_best", "n_pairs", "mean_diff", "p_value", "p_holm", "tested", "distinguishable"):
            out[c] = pd.Series(dtype=float)
        return out
    res = blocked_comparison(x, higher_is_better)
    out["is_best"] = np.arange(len(cells)) == res["best"]
    out["n_pairs"] = res["n_pairs"]
    out["mean_diff"] = res["mean_diff"]
    out["p_value"] = res["p"]
    out["p_holm"] = holm(res["p"])
    out["tested"] = np.isfinite(out["p_value"].to_numpy())
    out["distinguishable"] = out["tested"] & (out["p_holm"] < alpha) & friedman_rejects(x, alpha)
    return out


def prob_best(
    runs: pd.DataFrame,
    metric: str = "value",
    *,
    by: Sequence[str] = GAMMA_NAMES,
    higher_is_better: bool = True,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Bootstrap probability that each cell is the best (resampling seeds, paired across cells).

    Args:
        runs: finished runs.
        metric: the column compared.
        by: the columns that define a cell.
        higher_is_better: direction of `metric`.
        n_boot: number of bootstrap replicates.
        seed: seed of the `numpy.random.Generator` (reports are reproducible).

    Returns:
        The cells (columns `by`) with ``p_best``; the probabilities sum to 1.

    Example:
        >>> r = pd.DataFrame({"g": [0, 1], "seed": [0, 0], "value": [1.0, 2.0]})
        >>> prob_best(r, by=["g"])["p_best"].tolist()
        [0.0, 1.0]
    """
    cells, seeds, x = cell_seed_matrix(runs, metric, by)
    out = cells.copy()
    if not len(cells):
        out["p_best"] = pd.Series(dtype=float)
        return out
    rng = np.random.default_rng(seed)
    s = len(seeds)
    counts = rng.multinomial(s, np.full(s, 1.0 / s), size=n_boot)  # (B, S) times each seed is drawn
    present = np.isfinite(x)
    sums = counts @ np.where(present, x, 0.0).T  # (B, C)
    n = counts @ present.T.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / n
    score = np.where(np.isfinite(means), means if higher_is_better else -means, -np.inf)
    top = score.max(axis=1, keepdims=True)
    wins = (score == top) & np.isfinite(top)
    share = wins / np.maximum(wins.sum(axis=1, keepdims=True), 1)
    out["p_best"] = share.sum(axis=0) / n_boot
    return out
