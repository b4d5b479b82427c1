"""Which weights matter: PED-ANOVA and fANOVA importances (through `optuna.importance`), the main
effect of each weight and pairwise interactions.

The importances are computed on an in-memory copy of the runs whose params are the five weights as
actually trained (the ``gamma_*`` user attributes), so every weight the study varies is assessed
even when the sweep stored it only as a user attribute, and any metric can be the target. Both
evaluators are pinned (PED-ANOVA: target quantile 0.1 over all trials; fANOVA: 64 trees, depth 64,
seed 0), so a report is reproducible.
"""
from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from tipsd.analysis.runs import AnalysisError
from tipsd.model.record import GAMMA_NAMES

EVALUATORS = ("ped_anova", "fanova")


def _evaluator(name: str, seed: int):
    from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator

    if name == "ped_anova":
        return PedAnovaImportanceEvaluator(target_quantile=0.1, region_quantile=1.0, evaluate_on_local=True)
    if name == "fanova":
        return FanovaImportanceEvaluator(n_trees=64, max_depth=64, seed=seed)
    raise AnalysisError(f"unknown importance evaluator '{name}'; expected one of: {', '.join(EVALUATORS)}")


def _runs_as_study(runs: pd.DataFrame, metric: str, weights: Sequence[str], higher_is_better: bool):
    import optuna
    from optuna.distributions import FloatDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if higher_is_better else "minimize")
    dists = {w: FloatDistribution(float(runs[w].min()), float(runs[w].max())) for w in weights}
    study.add_trials([
        optuna.trial.create_trial(params={w: float(r[w]) for w in weights}, distributions=dists, value=float(r[metric]))
        for r in runs[list(weights) + [metric]].to_dict("records")
    ])
    return study


def weight_importances(
    runs: pd.DataFrame,
    metric: str = "value",
    *,
    higher_is_better: bool = True,
    evaluators: Sequence[str] = EVALUATORS,
    seed: int = 0,
) -> pd.DataFrame:
    """Normalised importance of each of the five weights under each evaluator.

    Args:
        runs: finished runs (`load_runs`).
        metric: the target column.
        higher_is_better: direction of `metric` (PED-ANOVA looks at the best 10 % of runs).
        evaluators: any of ``"ped_anova"``, ``"fanova"``.
        seed: fANOVA's random-forest seed.

    Returns:
        One row per weight (all five, in γ order): ``weight``, ``varies`` and one column per
        evaluator (sums to 1 over the varying weights; 0 for a weight held constant; NaN when the
        evaluator could not run, e.g. too few runs, or fANOVA without scikit-learn). Reasons are
        listed in ``frame.attrs["notes"]``.

    Example:
        >>> weight_importances(runs)  # doctest: +SKIP
    """
    import optuna

    # A weight the study never records (all NaN) is simply constant; do not drop every run for it.
    data = runs.dropna(subset=[metric] + [g for g in GAMMA_NAMES if g in runs and runs[g].notna().any()])
    vary = [g for g in GAMMA_NAMES if g in data and data[g].nunique() > 1]
    out = pd.DataFrame({"weight": list(GAMMA_NAMES), "varies": [g in vary for g in GAMMA_NAMES]})
    study = _runs_as_study(data, metric, vary, higher_is_better) if vary and len(data) >= 2 else None
    out.attrs["notes"] = []
    for name in evaluators:
        col = np.where(out["varies"], np.nan, 0.0)
        try:
            ev = _evaluator(name, seed)
        except ImportError:  # fANOVA's random forest comes from scikit-learn, an optional extra
            out.attrs["notes"].append(f"{name} needs scikit-learn: pip install scikit-learn")
            out[name] = col
            continue
        if study is not None:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # PED-ANOVA warns on small studies; NaN says enough
                    imp = optuna.importance.get_param_importances(study, evaluator=ev, params=vary)
                col = np.array([imp.get(g, 0.0) if g in vary else 0.0 for g in GAMMA_NAMES])
            except (RuntimeError, ValueError, ZeroDivisionError) as err:
                out.attrs["notes"].append(f"{name} could not run: {str(err).splitlines()[0]}")
        out[name] = col
    return out


@dataclass
class Design:
    """What a study's runs allow its importances and main effects to say (`importance_design`).

    Attributes:
        sampled: the sampler's name for a sampled study ("" for a grid): its settings are no grid, so
            main effects and interactions (means per value of one weight) mix the others' effects.
        missing: the planned grid cells with no finished run, as ``gamma_info=5 gamma_s=5``.
        n_cells: the planned grid's cells (0 when not a grid).
        per_cell: finished runs per cell, ``"2 (7 cells), 1 (1 cell)"``.
        unequal: whether the cells have unequal numbers of runs.
    """

    sampled: str = ""
    missing: list[str] = field(default_factory=list)
    n_cells: int = 0
    per_cell: str = ""
    unequal: bool = False

    @property
    def effects_shown(self) -> bool:
        """Whether main effects and interactions mean something (a grid's, not a sampler's settings)."""
        return not self.sampled

    def missing_text(self) -> str:
        """``"1 of 9 grid cells (gamma_info=5 gamma_s=5)"``: the first 3 missing cells named."""
        named = "; ".join(self.missing[:3]) + (f"; {len(self.missing) - 3} more" if len(self.missing) > 3 else "")
        return f"{len(self.missing)} of {self.n_cells} grid cells ({named})"

    def notes(self) -> list[str]:
        """The lines that say what the numbers rest on, printed with them."""
        out = [f"Runs per cell: {self.per_cell}."]
        if self.missing:
            out.append(f"Partial grid: {self.missing_text()} have no finished run; every importance and main "
                       "effect here mixes the weights' effects (a value's mean lacks the cells it misses).")
        if self.unequal:
            out.append("Cells have unequal numbers of runs: a weight value's mean weighs each cell by its runs.")
        if self.sampled:
            out.append(f"Main effects and interactions are not shown: the {self.sampled} sampler's settings are "
                       "not a grid (each value of a weight is seen with other values of the others); fANOVA "
                       "and PED-ANOVA above allow that.")
        return out


def importance_design(runs: pd.DataFrame, metric: str, *, grid=None, sampler: str = "") -> Design:
    """Check `runs` (finished) against the study's plan: missing grid cells, runs per cell.

    Args:
        runs: finished runs.
        metric: the target column (a run without it does not count).
        grid: the planned grid (`footers.study_plan(...).grid`: weight -> values); None or {} when unknown.
        sampler: `settings.is_sampled`'s name for a sampled study, "" for a grid.

    Example:
        >>> r = pd.DataFrame({"gamma_s": [0.0, 0.0, 1.0], "value": [1.0, 2.0, 3.0]})
        >>> d = importance_design(r, "value", grid={"gamma_s": [0.0, 1.0, 5.0]})
        >>> d.missing, d.per_cell, d.unequal
        (['gamma_s=5'], '2 (1 cell), 1 (1 cell), 0 (1 cell)', True)
    """
    from tipsd.analysis.tables import fmt_value, varying_weights

    done = runs.dropna(subset=[metric])
    axes = [g for g in GAMMA_NAMES if len((grid or {}).get(g, ())) > 1] or varying_weights(done) or []
    counts = done.groupby(axes).size() if axes and len(done) else pd.Series(dtype=int)
    missing, n_cells = [], 0
    if grid and axes and not sampler:
        cells = list(itertools.product(*[grid[g] for g in axes]))
        n_cells = len(cells)
        have = {tuple(float(v) for v in (k if isinstance(k, tuple) else (k,))) for k in counts.index}
        missing = [" ".join(f"{g}={fmt_value(v)}" for g, v in zip(axes, c)) for c in cells
                   if tuple(float(v) for v in c) not in have]
    dist = counts.value_counts().to_dict()
    if missing:
        dist[0] = len(missing)
    per_cell = ", ".join(f"{k} ({n} cell{'s' if n != 1 else ''})" for k, n in sorted(dist.items(), reverse=True))
    return Design(sampled=sampler, missing=missing, n_cells=n_cells, per_cell=per_cell, unequal=len(dist) > 1)


def main_effects(runs: pd.DataFrame, metric: str = "value") -> pd.DataFrame:
    """Mean of `metric` for each value of each weight (averaged over everything else).

    Returns:
        Long form: ``weight``, ``value``, ``mean``, ``std``, ``n``; only the weights that vary.

    Example:
        >>> r = pd.DataFrame({"gamma_info": [0, 0, 1], "value": [1.0, 3.0, 5.0]})
        >>> main_effects(r)[["value", "mean", "n"]].values.tolist()
        [[0.0, 2.0, 2.0], [1.0, 5.0, 1.0]]
    """
    parts = []
    for g in GAMMA_NAMES:
        if g in runs and runs[g].nunique() > 1:
            agg = runs.dropna(subset=[metric]).groupby(g)[metric].agg(["mean", "std", "count"]).reset_index()
            agg = agg.rename(columns={g: "value", "count": "n"})
            agg.insert(0, "weight", g)
            parts.append(agg)
    if not parts:
        return pd.DataFrame(columns=["weight", "value", "mean", "std", "n"])
    out = pd.concat(parts, ignore_index=True)
    out["value"] = out["value"].astype(float)
    out["n"] = out["n"].astype(float)
    return out


def _dummies(x: pd.Series) -> np.ndarray:
    levels = sorted(x.unique())
    return np.stack([(x == lv).to_numpy(float) for lv in levels[1:]], axis=1) if len(levels) > 1 else np.zeros((len(x), 0))


def interaction_share(runs: pd.DataFrame, a: str, b: str, metric: str = "value") -> float:
    """Share of the total sum of squares explained by the a × b interaction.

    (SSE of the additive fit ``y ~ a + b`` − SSE of the cell-mean fit ``y ~ a × b``) / SS_total,
    with a and b as categorical factors (least squares, so missing cells are fine). Other weights
    are averaged over (they count as noise).

    Example:
        >>> r = pd.DataFrame({"a": [0, 0, 1, 1], "b": [0, 1, 0, 1], "value": [1.0, 2.0, 3.0, 6.0]})
        >>> round(interaction_share(r, "a", "b"), 6)  # 1 / 14
        0.071429
    """
    d = runs.dropna(subset=[a, b, metric])
    y = d[metric].to_numpy(float)
    total = float(((y - y.mean()) ** 2).sum())
    if total == 0 or len(d) < 2:
        return 0.0
    x = np.column_stack([np.ones(len(d)), _dummies(d[a]), _dummies(d[b])])
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    sse_add = float(((y - x @ beta) ** 2).sum())
    cell_mean = d.groupby([a, b])[metric].transform("mean").to_numpy(float)
    sse_full = float(((y - cell_mean) ** 2).sum())
    return max(0.0, (sse_add - sse_full) / total)


def interactions(runs: pd.DataFrame, metric: str = "value") -> pd.DataFrame:
    """`interaction_share` for every pair of varying weights, largest first.

    Returns:
        ``weight_a``, ``weight_b``, ``share``, ``n_cells`` (observed (a, b) combinations).
    """
    vary = [g for g in GAMMA_NAMES if g in runs and runs[g].nunique() > 1]
    recs = [{"weight_a": a, "weight_b": b, "share": interaction_share(runs, a, b, metric),
             "n_cells": int(runs.dropna(subset=[metric]).groupby([a, b]).ngroups)}
            for a, b in itertools.combinations(vary, 2)]
    out = pd.DataFrame.from_records(recs, columns=["weight_a", "weight_b", "share", "n_cells"])
    return out.sort_values("share", ascending=False, kind="stable").reset_index(drop=True)


def plot_main_effects(*, effects: pd.DataFrame, ax=None, ylabel: str = "metric"):
    """Draw `main_effects` output: mean ± std of the metric against each weight's value, one line each.

    Weight values are placed at evenly spaced positions (the grids are not linear: 0, 0.1, 1, 5) and
    the ticks are labelled with the values themselves (when the weights share one grid; else with
    each position's values, one line per weight in the legend).

    Args:
        effects: the frame of `main_effects`.
        ax: a matplotlib Axes, or None for a new figure.
        ylabel: the y-axis label.

    Returns:
        The Axes.

    Example:
        >>> ax = plot_main_effects(effects=main_effects(runs))  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    from tipsd.analysis.tables import fmt_value, greek

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    grids = []
    for weight, part in effects.groupby("weight", sort=False):
        pos = np.arange(len(part))
        grids.append(tuple(fmt_value(v) for v in part["value"]))
        ax.errorbar(pos, part["mean"], yerr=part["std"].fillna(0.0), marker="o", capsize=3,
                    label=f"{greek(weight, 'latex')}: " + ", ".join(grids[-1]))
    longest = max(grids, key=len, default=())
    ax.set_xticks(np.arange(len(longest)))
    # one shared grid: its values are the ticks; otherwise each tick lists what each weight has there
    ax.set_xticklabels(longest if len(set(grids)) == 1 else
                       ["/".join(g[i] if i < len(g) else "–" for g in grids) for i in range(len(longest))])
    ax.set_xlabel("weight value")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    return ax
