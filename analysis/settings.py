"""The settings a study trained, ranked by their mean over seeds: the table of a sampled (Bayesian,
random, QMC) study, whose proposed weights form no grid, and the report's per-cell statistics.

A sampled study's settings laid out as rows × columns would be a sparse grid of mostly empty cells
(each setting has its own values of every weight); ranked, each setting is one row with its n,
spread, 95 % t-interval and the same test against the best setting that grid tables use
(`tipsd.analysis.stats.compare_to_best`).
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from tipsd.analysis.runs import AnalysisError, aggregate_cells
from tipsd.analysis.tables import DAGGER_NOTE, FORMATS, fmt_value, greek, varying_weights
from tipsd.analysis.text_tables import MISSING, latex_tabular, markdown_table
from tipsd.model.record import GAMMA_NAMES


def is_sampled(user_attrs) -> str:
    """The sampler's name when a study's stored spec samples its weights (not ``grid``), else ``""``
    (a grid study, or one stored without a spec).

    Example:
        >>> is_sampled({"tipsd.spec": {"sampler": "tpe"}}), is_sampled({"tipsd.spec": {"space": {}}})
        ('tpe', '')
    """
    spec = user_attrs.get("tipsd.spec")
    sampler = str(spec.get("sampler", "grid")) if isinstance(spec, dict) else "grid"
    return "" if sampler == "grid" else sampler


def cell_statistics(runs: pd.DataFrame, metric: str, *, higher: bool = True, n_boot: int = 2000,
                    by: Sequence[str] | None = None) -> pd.DataFrame:
    """Per cell (setting): mean, std, 95 % CI, n, Holm p-value against the best (seed-blocked test),
    distinguishable, P(best).

    Args:
        runs: finished runs (`load_runs`).
        metric: the column compared.
        higher: direction of `metric`.
        n_boot: bootstrap replicates of P(best) (`stats.prob_best`, seed 0).
        by: the columns that define a cell (default: every weight the runs record).

    Returns:
        One row per cell, best first: `by`, ``mean``, ``std``, ``n``, ``sem``, ``ci_low``, ``ci_high``,
        ``seeds``, ``p_holm``, ``tested``, ``distinguishable``, ``is_best``, ``p_best``.
    """
    from tipsd.analysis.stats import compare_to_best, prob_best

    by = list(by or [g for g in GAMMA_NAMES if runs[g].notna().any()])
    agg = aggregate_cells(runs, metric, by=by)
    test = compare_to_best(runs, metric, by=by, higher_is_better=higher)
    pb = prob_best(runs, metric, by=by, higher_is_better=higher, n_boot=n_boot)
    out = agg.merge(test[by + ["p_holm", "tested", "distinguishable", "is_best"]], on=by).merge(pb, on=by)
    return out.sort_values("mean", ascending=not higher, kind="stable").reset_index(drop=True)


def ranked_settings(runs: pd.DataFrame, metric: str, *, higher: bool = True, n_boot: int = 2000,
                    alpha: float = 0.05) -> pd.DataFrame:
    """The settings of `runs` (one per distinct weight vector), best mean first, for `render_settings`.

    Returns:
        `cell_statistics` over the weights that vary (one weight when none does), with ``rank``
        (1 = best) in front; ``frame.attrs``: ``weights`` (the varying ones), ``higher`` and ``alpha``.

    Raises:
        AnalysisError: `metric` is not a column of `runs`.
    """
    if metric not in runs:
        raise AnalysisError(f"metric '{metric}' not in the study")
    vary = varying_weights(runs) or [GAMMA_NAMES[0]]
    out = cell_statistics(runs.dropna(subset=[metric]), metric, higher=higher, n_boot=n_boot, by=vary)
    out.insert(0, "rank", range(1, len(out) + 1))
    out.attrs.update(weights=vary, higher=higher, alpha=alpha)
    return out


def _row(rec: dict, weights: Sequence[str], decimals: int) -> list[str]:
    num = (lambda v: MISSING if v != v else f"{v:.{decimals}f}")  # v != v: NaN (a single seed: no spread)
    mean = num(rec["mean"]) + (" †" if rec["tested"] and not rec["distinguishable"] else "")
    ci = MISSING if rec["ci_low"] != rec["ci_low"] else f"[{num(rec['ci_low'])}, {num(rec['ci_high'])}]"
    p = MISSING if rec["p_holm"] != rec["p_holm"] else f"{rec['p_holm']:.2g}"
    return ([str(rec["rank"])] + [fmt_value(rec[w]) for w in weights]
            + [mean, num(rec["std"]), str(int(rec["n"])), ci, p])


def settings_notes(frame: pd.DataFrame, sampler: str = "") -> list[str]:
    """The lines under a ranked table: what it ranks, and the test's marker."""
    by = "" if not sampler else f" the {sampler} sampler proposed"
    notes = [f"The {len(frame)} settings{by}, ranked by the mean over seeds "
             f"({'highest' if frame.attrs.get('higher', True) else 'lowest'} first); 95 % CI: t-interval over seeds; "
             "p: against the best setting (Holm)."]
    if (frame["tested"] & ~frame["distinguishable"]).any():
        notes.append("†: " + DAGGER_NOTE.format(alpha=frame.attrs.get("alpha", 0.05)) + ".")
    return notes


def render_settings(frame: pd.DataFrame, fmt: str = "markdown", *, decimals: int = 1, sampler: str = "",
                    limit: int | None = None) -> str:
    """`ranked_settings` as ``"markdown"``, ``"latex"`` (booktabs) or ``"csv"`` (every column, no notes).

    Args:
        frame: the frame of `ranked_settings`.
        fmt: the output format.
        decimals: digits after the point of the metric.
        sampler: the sampler's name, for the notes.
        limit: show only the first `limit` settings (a line says how many more there are).

    Example:
        >>> print(render_settings(ranked_settings(runs, "value")))  # doctest: +SKIP
        | rank | γ_info | γ_s | mean | std | n | 95 % CI | p (Holm) |
    """
    if fmt not in FORMATS:
        raise AnalysisError(f"unknown format '{fmt}'; expected one of: {', '.join(FORMATS)}")
    weights = frame.attrs.get("weights") or [c for c in frame.columns if c in GAMMA_NAMES]
    if fmt == "csv":
        cols = ["rank", *weights, "mean", "std", "n", "ci_low", "ci_high", "p_holm", "distinguishable", "p_best"]
        return frame[cols].to_csv(index=False, float_format=f"%.{decimals + 3}g")
    shown = frame if limit is None else frame.head(limit)
    style = "latex" if fmt == "latex" else "text"
    header = ["rank", *(greek(w, style) for w in weights), "mean", "std", "n", "95 % CI", "p (Holm)"]
    rows = [_row(rec, weights, decimals) for rec in shown.to_dict("records")]
    notes = settings_notes(frame, sampler)
    if len(shown) < len(frame):
        notes.append(f"({len(frame) - len(shown)} more settings not shown; `tipsd table` lists them all.)")
    if fmt == "latex":
        rows = [[c.replace("†", "$^{\\dagger}$").replace("%", "\\%") for c in r] for r in rows]
        header = [h.replace("%", "\\%") for h in header]
        return "\n".join([latex_tabular(header, rows), *(f"% {n}" for n in notes)]) + "\n"
    return "\n".join([markdown_table(header, rows), "", *notes]) + "\n"


__all__ = ["cell_statistics", "is_sampled", "ranked_settings", "render_settings", "settings_notes"]
