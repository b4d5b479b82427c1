"""Tables in the paper's layout: rows × columns of loss weights, optionally in blocks.

`build_table` computes a `PaperTable` (means, spreads, best cell, statistics, missing cells);
`render_table` writes it as Markdown, LaTeX (booktabs) or CSV. Table I of the paper is
``rows="gamma_info", cols="gamma_s"``; Table II is ``blocks="gamma_red", rows="gamma_var",
cols="gamma_com"``. Missing cells print as "–" (LaTeX "--") and are counted in the notes.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from tipsd.analysis.names import closest_value, did_you_mean
from tipsd.analysis.runs import AnalysisError, aggregate_cells
from tipsd.analysis.stats import compare_to_best, prob_best
from tipsd.analysis.text_tables import MISSING, frame_rows, latex_tabular, markdown_table
from tipsd.model.record import GAMMA_NAMES, MAP_COLUMNS, METRIC

FORMATS = ("markdown", "latex", "csv")
TEST_NOTE = "t-test on the seed-blocked ANOVA's pooled error, Holm-corrected"  # `stats.compare_to_best`
DAGGER_NOTE = "not distinguishable from the best (" + TEST_NOTE + ", α = {alpha:g})"


def greek(name: str, style: str = "text") -> str:
    """A weight's name as the paper writes it.

    Example:
        >>> greek("gamma_info"), greek("gamma_s", "latex")
        ('γ_info', '$\\\\gamma_{\\\\mathrm{s}}$')
    """
    if not name.startswith("gamma_"):
        return name
    sub = name[len("gamma_"):]
    return f"γ_{sub}" if style == "text" else rf"$\gamma_{{\mathrm{{{sub}}}}}$"


def fmt_value(v: float) -> str:
    """A weight value as the paper prints it (``0.1``, ``1``, ``5``)."""
    return f"{v:g}"


@dataclass
class PaperTable:
    """A computed table: arrays are indexed ``[block, row, col]``.

    Attributes:
        metric: the column tabulated.
        rows, cols: weight names on the rows and columns; blocks: weight of the blocks or None.
        row_values, col_values, block_values: sorted values (``[None]`` when there are no blocks).
        mean, std, n: per-cell aggregates over seeds (NaN / 0 where the cell is missing).
        best: index of the best cell, or None when the table is empty.
        tested, distinguishable, p_holm, p_best: statistics against the best cell (see `stats`).
        higher_is_better: direction of `metric`; alpha: level of the tests.
        fixed: the other weights and their (single) value in the tabulated runs.
        race_status, race_n, race_p: a racing study's race per cell (`tipsd.analysis.racing`):
            status ("" when not raced), seeds given, Holm p at which it was separated (NaN otherwise).
        race_note: the racing line of the notes ("" when not a racing study).
    """

    metric: str
    rows: str
    cols: str
    blocks: str | None
    row_values: list[float]
    col_values: list[float]
    block_values: list
    mean: np.ndarray
    std: np.ndarray
    n: np.ndarray
    best: tuple[int, int, int] | None
    tested: np.ndarray
    distinguishable: np.ndarray
    p_holm: np.ndarray
    p_best: np.ndarray
    higher_is_better: bool = True
    alpha: float = 0.05
    fixed: dict[str, float] = field(default_factory=dict)
    race_status: np.ndarray | None = None
    race_n: np.ndarray | None = None
    race_p: np.ndarray | None = None
    race_note: str = ""

    def race_mark(self, i: tuple[int, int, int]) -> str:
        """What a racing table adds to cell `i`: ``n 10`` (the runs its mean is over), ``n 3 of 4
        planned`` while the race's runs are not all finished (a study running or stopped half way,
        or a failed run), or ``out at n 4, p 0.003`` when separated (``n 3, out at n 4, …`` when
        its mean is over fewer runs than the race's n)."""
        if self.race_status is None or not self.race_status[i]:
            return ""
        have, planned = int(self.n[i]), int(self.race_n[i])
        if self.race_status[i] == "separated":
            out = f"out at n {planned}, p {self.race_p[i]:.2g}"
            return out if have == planned else f"n {have}, {out}"
        return f"n {have}" + (f" of {planned} planned" if have < planned else "")

    @property
    def n_cells(self) -> int:
        """Number of cells in the layout."""
        return int(self.mean.size)

    @property
    def n_missing(self) -> int:
        """Number of cells without any finished run."""
        return int(np.isnan(self.mean).sum())

    @property
    def has_spread(self) -> bool:
        """Whether some cell has two or more runs (then tables print mean ± std)."""
        return bool((self.n >= 2).any())

    @property
    def has_tests(self) -> bool:
        """Whether some cell could be tested against the best (two or more shared seeds)."""
        return bool(self.tested.any())

    def cells(self) -> pd.DataFrame:
        """The table in long form: one row per cell of the layout (missing ones included)."""
        recs = []
        for b, bv in enumerate(self.block_values):
            for r, rv in enumerate(self.row_values):
                for c, cv in enumerate(self.col_values):
                    rec = {} if self.blocks is None else {self.blocks: bv}
                    rec.update({self.rows: rv, self.cols: cv, "mean": self.mean[b, r, c],
                                "std": self.std[b, r, c], "n": int(self.n[b, r, c]),
                                "best": self.best == (b, r, c),
                                "distinguishable": bool(self.distinguishable[b, r, c]),
                                "p_holm": self.p_holm[b, r, c], "p_best": self.p_best[b, r, c]})
                    recs.append(rec)
        return pd.DataFrame.from_records(recs)


def varying_weights(runs: pd.DataFrame) -> list[str]:
    """The weights that take more than one value in `runs`, in the paper's order."""
    return [g for g in GAMMA_NAMES if g in runs and runs[g].dropna().nunique() > 1]


def auto_layout(runs: pd.DataFrame, vary: Sequence[str] | None = None) -> tuple[str | None, str, str]:
    """(blocks, rows, cols) following the paper: 2 varying weights → Table I, 3 → Table II.

    `vary` names the varying weights (default: those that vary in `runs`); a study's spec gives
    them so that a partial study keeps its axes.

    With two varying weights the first (in γ_info, γ_s, γ_com, γ_var, γ_red order) is the rows; with
    three, the last is the blocks, the middle the rows and the first the columns.

    Example:
        >>> auto_layout(pd.DataFrame({"gamma_info": [0, 1], "gamma_s": [0, 1]}))
        (None, 'gamma_info', 'gamma_s')
    """
    vary = varying_weights(runs) if vary is None else list(vary)
    if len(vary) == 0:
        present = [g for g in GAMMA_NAMES if g in runs]
        return None, present[0], present[1]
    if len(vary) == 1:
        other = next(g for g in GAMMA_NAMES if g != vary[0])
        return None, vary[0], other
    if len(vary) == 2:
        return None, vary[0], vary[1]
    if len(vary) == 3:
        return vary[2], vary[1], vary[0]
    raise AnalysisError(
        f"{len(vary)} weights vary in the study ({', '.join(vary)}); expected at most 3 for a table: "
        "choose --rows/--cols/--blocks and pin the others with --where NAME=VALUE"
    )


def _check_weight(runs: pd.DataFrame, name: str) -> None:
    if name not in GAMMA_NAMES or name not in runs or runs[name].isna().all():
        present = [g for g in GAMMA_NAMES if g in runs and not runs[g].isna().all()]
        raise AnalysisError(f"weight '{name}' is not in the study{did_you_mean(name, present)}")


def apply_where(runs: pd.DataFrame, where: Mapping[str, float] | None) -> pd.DataFrame:
    """Keep the runs whose weights equal `where` (e.g. ``{"gamma_s": 0.1}``); an absent value is an error."""
    for name, value in (where or {}).items():
        _check_weight(runs, name)
        keep = np.isclose(runs[name].to_numpy(dtype=float), float(value))
        if not keep.any():
            stored = sorted(float(v) for v in runs[name].dropna().unique())
            near = fmt_value(closest_value(float(value), stored))
            raise AnalysisError(f"no run has {name}={fmt_value(float(value))}; did you mean {name}={near}? "
                                f"(its values: {', '.join(fmt_value(v) for v in stored)})")
        runs = runs[keep]
    return runs


def build_table(
    runs: pd.DataFrame,
    *,
    metric: str = "value",
    rows: str | None = None,
    cols: str | None = None,
    blocks: str | None = None,
    where: Mapping[str, float] | None = None,
    higher_is_better: bool = True,
    alpha: float = 0.05,
    n_boot: int = 2000,
    race: pd.DataFrame | None = None,
    grid: Mapping[str, Sequence[float]] | None = None,
) -> PaperTable:
    """Compute a table in the paper's layout from finished runs.

    Args:
        runs: finished runs (`load_runs`).
        metric: the column tabulated (``"value"``, ``"metric.Total"``, ``"loss.L_com"`` …).
        rows, cols, blocks: weight names; unset ones follow `auto_layout`.
        where: pin other weights to one value each (``{"gamma_s": 0.1}``).
        higher_is_better: direction of `metric` (best cell, tests).
        alpha: level of the Holm-corrected paired tests.
        n_boot: bootstrap replicates for the probability of being best.
        race: a racing study's race per cell (`tipsd.analysis.racing.race_of_runs`'s frame): each cell
            then shows its seed count, and the race's separated cells their n and p.
        grid: the study's planned weights and values (`footers.study_plan`): unset axes follow the
            weights it varies, and every planned value gets a row or column (missing cells "–"),
            whatever has finished so far.

    Returns:
        A `PaperTable`. A weight that varies in the runs but is not on an axis is an error.

    Example:
        >>> t = build_table(runs, rows="gamma_info", cols="gamma_s")  # doctest: +SKIP
    """
    runs = apply_where(runs, where)
    planned = [g for g in GAMMA_NAMES if len((grid or {}).get(g, ())) > 1 and not (where and g in where)]
    if rows is None and cols is None and blocks is None:
        blocks, rows, cols = auto_layout(runs, planned or None)
    else:
        taken = [a for a in (blocks, rows, cols) if a]
        vary = planned or varying_weights(runs)
        # Unset axes take the varying weights first, then any other weight.
        pool = [g for g in vary if g not in taken] + [g for g in GAMMA_NAMES if g not in taken and g not in vary]
        rows = rows or pool.pop(0)
        cols = cols or pool.pop(0)
        if blocks is None and pool and pool[0] in vary:
            blocks = pool.pop(0)
    axes = [a for a in (blocks, rows, cols) if a is not None]
    for a in axes:
        _check_weight(runs, a)
    if len(set(axes)) != len(axes):
        raise AnalysisError(f"rows, columns and blocks must be different weights, got {', '.join(axes)}")
    stray = [g for g in varying_weights(runs) if g not in axes]
    if stray:
        vals = ", ".join(fmt_value(v) for v in sorted(runs[stray[0]].dropna().unique()))
        raise AnalysisError(
            f"weight '{stray[0]}' varies in the study ({vals}) but is not on an axis; "
            f"add it with --rows/--cols/--blocks or pin it with --where {stray[0]}=VALUE"
        )
    if metric not in runs:
        raise AnalysisError(f"metric '{metric}' not in the study")
    fixed = {g: float(runs[g].dropna().iloc[0]) for g in GAMMA_NAMES
             if g in runs and g not in axes and runs[g].notna().any()}
    values = {a: sorted({float(v) for v in runs[a].dropna().unique()} | set((grid or {}).get(a, ())))
              for a in axes}
    block_values = values[blocks] if blocks else [None]
    shape = (len(block_values), len(values[rows]), len(values[cols]))
    mean, std, n = np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape)
    tested, dist = np.zeros(shape, bool), np.zeros(shape, bool)
    p_holm, p_best = np.full(shape, np.nan), np.full(shape, np.nan)
    best = None

    def index(rec) -> tuple[int, int, int]:
        b = block_values.index(float(rec[blocks])) if blocks else 0
        return b, values[rows].index(float(rec[rows])), values[cols].index(float(rec[cols]))

    valid = runs.dropna(subset=axes + [metric])
    if len(valid):
        for rec in aggregate_cells(valid, metric, by=axes).to_dict("records"):
            i = index(rec)
            mean[i], std[i], n[i] = rec["mean"], rec["std"], rec["n"]
        for rec in compare_to_best(valid, metric, by=axes, higher_is_better=higher_is_better,
                                   alpha=alpha).to_dict("records"):
            i = index(rec)
            tested[i], dist[i], p_holm[i] = rec["tested"], rec["distinguishable"], rec["p_holm"]
            if rec["is_best"]:
                best = i
        for rec in prob_best(valid, metric, by=axes, higher_is_better=higher_is_better,
                             n_boot=n_boot).to_dict("records"):
            p_best[index(rec)] = rec["p_best"]
    table = PaperTable(metric, rows, cols, blocks, values[rows], values[cols], block_values, mean, std, n,
                       best, tested, dist, p_holm, p_best, higher_is_better, alpha, fixed)
    if race is not None:
        table.race_status, table.race_n = np.full(shape, "", dtype=object), np.zeros(shape, dtype=int)
        table.race_p = np.full(shape, np.nan)
        for rec in apply_where(race, where).dropna(subset=axes).to_dict("records"):
            i = index(rec)
            table.race_status[i], table.race_n[i], table.race_p[i] = (rec["race_status"], rec["race_n"],
                                                                      rec["race_p"])
        out = (table.race_status == "separated").sum()
        table.race_note = (f"Racing: n = runs a cell's mean is over (of the seeds the race plans for it, while "
                           f"some are not finished); out = separated from the best by the race at n seeds "
                           f"(Holm p); {out} of {int((table.race_status != '').sum())} cells out.")
    return table


def _cell_text(t: PaperTable, i: tuple[int, int, int], decimals: int, latex: bool) -> str:
    m = t.mean[i]
    if np.isnan(m):
        return "--" if latex else MISSING
    core = f"{m:.{decimals}f}"
    spread = t.has_spread and t.n[i] >= 2
    if spread:
        core = f"{core} \\pm {t.std[i]:.{decimals}f}" if latex else f"{core} ± {t.std[i]:.{decimals}f}"
    is_best = t.best == i
    if latex:
        if spread:
            core = f"$\\mathbf{{{core}}}$" if is_best else f"${core}$"
        elif is_best:
            core = f"\\textbf{{{core}}}"
    elif is_best:
        core = f"**{core}**"
    # Mark the cells a reviewer could not tell apart from the best.
    if t.tested[i] and not t.distinguishable[i]:
        core += "$^{\\dagger}$" if latex else " †"
    mark = t.race_mark(i)
    return f"{core} ({mark})" if mark else core


def table_notes(t: PaperTable) -> list[str]:
    """The lines printed under a table: spread, markers, missing cells, pinned weights."""
    notes = ["Bold: best cell" + (" (lowest)" if not t.higher_is_better else "") + "."]
    if t.has_spread:
        notes.append("Values: mean ± std over seeds.")
    if (t.tested & ~t.distinguishable).any():
        notes.append("†: " + DAGGER_NOTE.format(alpha=t.alpha) + ".")
    elif t.has_tests:
        notes.append(f"Every tested cell is distinguishable from the best ({TEST_NOTE}, α = {t.alpha:g}).")
    if t.n_missing:
        notes.append(f"Missing cells ({MISSING}): {t.n_missing} of {t.n_cells}.")
    if t.race_note:
        notes.append(t.race_note)
    return notes


def render_table(t: PaperTable, fmt: str = "markdown", *, decimals: int = 1, notes: bool = True) -> str:
    """Write `t` as ``"markdown"``, ``"latex"`` (booktabs) or ``"csv"`` (wide, one column per value).

    Example:
        >>> print(render_table(t, "markdown"))  # doctest: +SKIP
        | γ_info \\ γ_s | 0 | 0.1 |
        | --- | --- | --- |
        | 0 | 80.0 | 80.5 |
        | 1 | 81.0 | **82.0** |
    """
    if fmt not in FORMATS:
        raise AnalysisError(f"unknown format '{fmt}'; expected one of: {', '.join(FORMATS)}")
    if fmt == "csv":
        return _render_csv(t, decimals)
    latex = fmt == "latex"
    style = "latex" if latex else "text"
    slash = "\\textbackslash{}" if latex else "\\"
    corner = f"{greek(t.rows, style)} {slash} {greek(t.cols, style)}"
    header = [corner] + [fmt_value(v) for v in t.col_values]
    body: list[list[str] | str] = []
    for b, bv in enumerate(t.block_values):
        if t.blocks is not None:
            body.append(f"{greek(t.blocks, style)} = {fmt_value(bv)}")
        for r, rv in enumerate(t.row_values):
            body.append([fmt_value(rv)] + [_cell_text(t, (b, r, c), decimals, latex)
                                           for c in range(len(t.col_values))])
    if latex:
        tail = [f"% {n}" for n in table_notes(t)] if notes else []
        return "\n".join([latex_tabular(header, body), *tail]) + "\n"
    tail = ["", *table_notes(t)] if notes else []
    return "\n".join([markdown_table(header, body), *tail]) + "\n"


def _render_csv(t: PaperTable, decimals: int) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    lead = ([t.blocks] if t.blocks else []) + [t.rows]
    w.writerow(lead + [f"{t.cols}={fmt_value(v)}" for v in t.col_values])
    for b, bv in enumerate(t.block_values):
        for r, rv in enumerate(t.row_values):
            key = ([fmt_value(bv)] if t.blocks else []) + [fmt_value(rv)]
            vals = ["" if np.isnan(m) else f"{m:.{decimals + 3}f}" for m in t.mean[b, r]]
            w.writerow(key + vals)
    return buf.getvalue()


def joint_table(runs: pd.DataFrame, cells: Sequence[Mapping[str, float]]) -> pd.DataFrame:
    """Per-joint mAP (Head … Ankle, Total), mean over seeds, for the chosen cells.

    Args:
        runs: finished runs.
        cells: partial γ vectors, e.g. ``[{"gamma_info": 1, "gamma_s": 0.1}]``; each selects the
            runs that match on the given weights (all matching full cells are listed).

    Returns:
        One row per matching cell, indexed by a label of the varying weights (``γ_info=1, γ_s=0.1``),
        columns ``Head`` … ``Total`` and ``n``.

    Example:
        >>> joint_table(runs, [{"gamma_info": 1, "gamma_s": 0.1}])  # doctest: +SKIP
    """
    cols = [METRIC + j for j in MAP_COLUMNS if METRIC + j in runs]
    if not cols:
        raise AnalysisError("the study stores no per-joint metrics (metric.Head … metric.Total)")
    vary = varying_weights(runs) or [GAMMA_NAMES[0]]
    parts = []
    for cell in cells:
        sel = apply_where(runs, cell)
        g = sel.groupby(list(GAMMA_NAMES), dropna=False)
        part = g[cols].mean()
        part["n"] = g.size()
        parts.append(part)
    table = pd.concat(parts)
    table = table[~table.index.duplicated()]
    table.index = [", ".join(f"{greek(n)}={fmt_value(v)}" for n, v in zip(GAMMA_NAMES, key) if n in vary)
                   for key in table.index]
    table.columns = [c.removeprefix(METRIC) for c in table.columns]
    return table


def render_frame(frame: pd.DataFrame, fmt: str = "markdown", *, decimals: int = 1, index_name: str = "") -> str:
    """A small frame (e.g. `joint_table`) as Markdown, LaTeX (booktabs) or CSV, index first."""
    if fmt not in FORMATS:
        raise AnalysisError(f"unknown format '{fmt}'; expected one of: {', '.join(FORMATS)}")
    if fmt == "csv":
        return frame.to_csv(index_label=index_name or "cell", float_format=f"%.{decimals + 3}f")
    header = [index_name] + [str(c) for c in frame.columns]
    write = latex_tabular if fmt == "latex" else markdown_table
    return write(header, frame_rows(frame, decimals, index=True)) + "\n"
