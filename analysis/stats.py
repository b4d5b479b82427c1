"""Statistics over seeds that a reviewer asks for: is a cell distinguishable from the best one, and
how likely is each cell to be the best.

Choices (documented in docs/analysis.md):

- **Paired by seed.** Runs with the same seed share data order, augmentation and initialisation, so
  cell-to-cell differences are compared seed by seed: for each cell c, d_s = x_best,s − x_c,s over the
  seeds both cells have, and a two-sided one-sample t-test of mean(d) = 0 (the paired t-test).
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
    """Test every cell against the best cell, paired by seed, Holm-corrected across cells.

    Args:
        runs: finished runs (`load_runs`).
        metric: the column compared.
        by: the columns that define a cell.
        higher_is_better: direction of `metric`.
        alpha: family-wise error level of the Holm procedure.

    Returns:
        One row per cell: `by`, ``mean`` (over its seeds), ``is_best``, ``n_pairs`` (seeds shared with
        the best), ``mean_diff`` (best − cell, paired; positive = worse than best when higher is
        better), ``p_value``, ``p_holm``, ``tested`` (at least 2 shared seeds) and ``distinguishable``
        (tested and ``p_holm < alpha``).

    Example:
        >>> r = pd.DataFrame({"g": [0, 0, 0, 1, 1, 1], "seed": [0, 1, 2] * 2,
        ...                   "value": [1.0, 2.0, 3.0, 2.0, 4.0, 6.0]})
        >>> round(float(compare_to_best(r, by=["g"]).loc[0, "p_value"]), 4)
        0.0742
    """
    cells, _, x = cell_seed_matrix(runs, metric, by)
    out = cells.copy()
    means = np.nanmean(x, axis=1) if x.size else np.array([])
    out["mean"] = means
    if not len(cells):
        for c in ("is_best", "n_pairs", "mean_diff", "p_value", "p_holm", "tested", "distinguishable"):
            out[c] = pd.Series(dtype=float)
        return out
    sign = 1.0 if higher_is_better else -1.0
    best = int(np.nanargmax(sign * means))
    n_pairs, diffs, pvals = [], [], []
    for i in range(len(cells)):
        shared = np.isfinite(x[best]) & np.isfinite(x[i])
        d = sign * (x[best, shared] - x[i, shared])
        n_pairs.append(int(shared.sum()))
        diffs.append(float(d.mean()) * sign if d.size else np.nan)
        pvals.append(np.nan if i == best else paired_t_pvalue(d))
    out["is_best"] = np.arange(len(cells)) == best
    out["n_pairs"] = n_pairs
    out["mean_diff"] = diffs
    out["p_value"] = pvals
    out["p_holm"] = holm(pvals)
    out["tested"] = np.isfinite(out["p_value"].to_numpy())
    out["distinguishable"] = out["tested"] & (out["p_holm"] < alpha)
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
