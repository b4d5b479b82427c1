"""The published Tables I and II (package data), their layouts, the six claims, and the comparison of
a stored study with them.

A cell is a tuple of ``(weight, value)`` pairs in the order γ_info, γ_s, γ_com, γ_var, γ_red, over the
weights a table varies (Table I: γ_info, γ_s; Table II: γ_com, γ_var, γ_red). Each claim of
reference/README.md is a function ``claim(values, baseline=None) -> (status, detail)`` over a mapping
cell → value, so the same function checks the paper's numbers and a reproduction's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from tipsd.analysis.effects import Effects, effects_against_reference
from tipsd.analysis.runs import AnalysisError
from tipsd.model.record import GAMMA_NAMES
from tipsd.analysis.tables import PaperTable, build_table, fmt_value, greek
from tipsd.analysis.text_tables import markdown_table

PAPER_TABLES = ("table1", "table2")
# Layouts of the published tables (rows × columns, blocks).
PAPER_LAYOUTS = {
    "table1": {"blocks": None, "rows": "gamma_info", "cols": "gamma_s"},
    "table2": {"blocks": "gamma_red", "rows": "gamma_var", "cols": "gamma_com"},
}
# Weights each table holds fixed: stated for Table II, inferred for Table I (reference/README.md).
PAPER_FIXED = {
    "table1": {"gamma_com": 1.0, "gamma_var": 1.0, "gamma_red": 1.0},
    "table2": {"gamma_info": 1.0, "gamma_s": 0.1},
}
HRNET_BASELINE = 77.3  # the paper's HRNet mAP (claim 1 needs the reproduction's own baseline)

Cell = tuple  # ((weight, value), ...)
HOLDS, FAILS, NOT_TESTABLE, NOT_APPLICABLE = "holds", "fails", "not testable", "not applicable"
# A claim about the best cell that the reproduction's seed noise cannot decide: the cells it turns on
# are not distinguishable from the best (the † of `tipsd table`).
UNRESOLVED = "within seed noise"


def reference_frame() -> pd.DataFrame:
    """The published numbers (``analysis/data/paper_tables.csv``): table, the five weights, map."""
    with resources.files("tipsd.analysis").joinpath("data/paper_tables.csv").open("r") as fh:
        return pd.read_csv(fh)


def _check_table(name: str) -> None:
    if name not in PAPER_TABLES:
        raise AnalysisError(f"unknown paper table '{name}'; expected one of: {', '.join(PAPER_TABLES)}")


def table_axes(name: str) -> tuple[str, ...]:
    """The weights `name` varies, in γ order (``("gamma_info", "gamma_s")`` for table1)."""
    _check_table(name)
    used = {v for v in PAPER_LAYOUTS[name].values() if v}
    return tuple(g for g in GAMMA_NAMES if g in used)


def paper_runs(name: str) -> pd.DataFrame:
    """The published cells of `name` as a runs frame (one run per cell, seed 0, ``value`` = mAP)."""
    _check_table(name)
    ref = reference_frame()
    runs = ref[ref["table"] == name].drop(columns="table").rename(columns={"map": "value"})
    runs = runs.astype({g: float for g in GAMMA_NAMES}).reset_index(drop=True)
    runs["seed"] = 0
    return runs


def paper_table(name: str) -> PaperTable:
    """The published table `name` in its layout (render it with `render_table`).

    Example:
        >>> paper_table("table1").mean[0, 2, 1]  # γ_info = 1, γ_s = 0.1
        np.float64(86.2)
    """
    return build_table(paper_runs(name), **PAPER_LAYOUTS[name])


def cell_values(runs: pd.DataFrame, axes: tuple[str, ...], metric: str = "value") -> dict[Cell, float]:
    """Mean of `metric` per cell over `axes` (seeds averaged), keyed by ``((weight, value), ...)``."""
    valid = runs.dropna(subset=list(axes) + [metric])
    means = valid.groupby(list(axes))[metric].mean()
    keys = means.index if len(axes) > 1 else [(k,) for k in means.index]
    return {cell_of(axes, k): float(v) for k, v in zip(keys, means.to_numpy())}


def cell_of(axes: tuple[str, ...], values) -> Cell:
    """The key ``((weight, value), ...)`` of the cell with `values` on `axes`."""
    return tuple(zip(axes, map(float, values)))


def _w(cell: Cell, name: str) -> float:
    return dict(cell)[name]


def _label(cell: Cell) -> str:
    return ", ".join(f"{greek(n)}={fmt_value(v)}" for n, v in cell)


def _best(values: Mapping[Cell, float]) -> Cell:
    return max(values, key=values.get)


def claim_beats_baseline(values: Mapping[Cell, float], baseline: float | None = None,
                         tied: frozenset[Cell] | None = None) -> tuple[str, str]:
    """Claim 1: every setting beats the HRNet baseline (needs the reproduction's baseline)."""
    if baseline is None or not values:
        return NOT_TESTABLE, "the study has no HRNet baseline run (give one with --baseline)"
    worst = min(values, key=values.get)
    ok = values[worst] > baseline
    return (HOLDS if ok else FAILS), f"lowest cell {_label(worst)} = {values[worst]:.2f} vs baseline {baseline:g}"


def claim_info_beats_zero(values: Mapping[Cell, float], baseline: float | None = None,
                          tied: frozenset[Cell] | None = None) -> tuple[str, str]:
    """Claim 2: γ_info > 0 beats γ_info = 0 in every column (γ_s) of Table I."""
    cols = sorted({_w(c, "gamma_s") for c in values})
    checked, bad = 0, []
    for s in cols:
        zero = [v for c, v in values.items() if _w(c, "gamma_s") == s and _w(c, "gamma_info") == 0]
        pos = [(c, v) for c, v in values.items() if _w(c, "gamma_s") == s and _w(c, "gamma_info") > 0]
        if zero and pos:
            checked += 1
            bad += [f"{_label(c)} = {v:.2f} ≤ {zero[0]:.2f}" for c, v in pos if v <= zero[0]]
    if not checked:
        return NOT_TESTABLE, "no column holds both γ_info = 0 and γ_info > 0"
    return (FAILS, "; ".join(bad)) if bad else (HOLDS, f"{checked} columns checked")


def _best_is(values: Mapping[Cell, float], want: dict[str, float],
             tied: frozenset[Cell] | None = None) -> tuple[str, str]:
    target = tuple((n, want[n]) for n, _ in next(iter(values))) if values else ()
    if target not in values:
        return NOT_TESTABLE, f"cell {', '.join(f'{greek(k)}={fmt_value(v)}' for k, v in want.items())} not run"
    if len(values) < 2:  # a lone cell is trivially the best: nothing was compared
        return NOT_TESTABLE, f"only the cell {_label(target)}; needs other cells to compare with"
    best = _best(values)
    detail = f"best {_label(best)} = {values[best]:.2f}"
    if tied is not None:
        # With replicates the claim holds only if the target is best and no other cell is tied with
        # it, and fails only if the target is separated from the best.
        others = sorted(_label(c) for c in tied if c != target and c in values)
        if target == best and not others:
            return HOLDS, detail + "; every other cell separated from it"
        if target in tied or target == best:
            ties = f"{len(others)} other cells" if len(others) > 3 else "; ".join(others)
            return UNRESOLVED, (f"{_label(target)} = {values[target]:.2f}; {detail}; not distinguishable "
                                f"from the best: {ties}")
        return FAILS, f"{detail}; {_label(target)} = {values[target]:.2f} is separated from it"
    ok = values[target] >= values[best]
    return (HOLDS if ok else FAILS), detail


def claim_table1_best(values: Mapping[Cell, float], baseline: float | None = None,
                      tied: frozenset[Cell] | None = None) -> tuple[str, str]:
    """Claim 3: best of Table I is γ_info=1, γ_s=0.1; the best γ_s of each row is 0.1 or 1 (the rows'
    peaks are read from the means)."""
    status, detail = _best_is(values, {"gamma_info": 1.0, "gamma_s": 0.1}, tied)
    if status == NOT_TESTABLE:
        return status, detail
    bad = []
    for i in sorted({_w(c, "gamma_info") for c in values}):
        row = {c: v for c, v in values.items() if _w(c, "gamma_info") == i}
        if len(row) >= 2 and _w(_best(row), "gamma_s") not in (0.1, 1.0):
            bad.append(f"row γ_info={fmt_value(i)} peaks at γ_s={fmt_value(_w(_best(row), 'gamma_s'))}")
    if bad:
        return FAILS, f"{detail}; " + "; ".join(bad)
    return status, detail


def claim_com0_flat(values: Mapping[Cell, float], baseline: float | None = None,
                    tied: frozenset[Cell] | None = None) -> tuple[str, str]:
    """Claim 4: in Table II the γ_com = 0 column is flat whatever γ_var and γ_red.

    "Flat" (our operational reading): the column's range is at most a quarter of the whole table's
    range (the paper: 0.3 points out of 2.5).
    """
    col = [v for c, v in values.items() if _w(c, "gamma_com") == 0]
    if len(col) < 2 or len(values) <= len(col):
        return NOT_TESTABLE, "needs two or more γ_com = 0 cells and some γ_com > 0 cells"
    spread, total = max(col) - min(col), max(values.values()) - min(values.values())
    ok = spread <= 0.25 * total
    return (HOLDS if ok else FAILS), f"γ_com=0 range {spread:.2f} vs table range {total:.2f} (flat: ≤ 25%)"


def claim_table2_best(values: Mapping[Cell, float], baseline: float | None = None,
                      tied: frozenset[Cell] | None = None) -> tuple[str, str]:
    """Claim 5: best of Table II is γ_red = γ_var = γ_com = 1."""
    return _best_is(values, {"gamma_com": 1.0, "gamma_var": 1.0, "gamma_red": 1.0}, tied)


def claim_large_weight_hurts(values: Mapping[Cell, float], baseline: float | None = None,
                             tied: frozenset[Cell] | None = None) -> tuple[str, str]:
    """Claim 6: too large a weight (5) hurts: every cell with a weight at 5 is below the best cell
    (with replicates: separated from it; a cell with a 5 tied with the best leaves it unresolved)."""
    large = {c: v for c, v in values.items() if any(v_ == 5.0 for _, v_ in c)}
    if not large or len(large) == len(values):
        return NOT_TESTABLE, "needs cells with and without a weight at 5"
    top = max(large, key=large.get)
    top_large, best = large[top], max(values.values())
    detail = f"best cell with a 5: {_label(top)} = {top_large:.2f} vs best {best:.2f}"
    if top_large >= best:
        return FAILS, detail
    if tied is not None:
        in_noise = sorted(_label(c) for c in large if c in tied)
        if in_noise:
            return UNRESOLVED, f"{detail}; not distinguishable from the best: {'; '.join(in_noise[:3])}" + (
                f" and {len(in_noise) - 3} more" if len(in_noise) > 3 else "")
        return HOLDS, f"{detail}; all {len(large)} cells with a 5 separated from the best"
    return HOLDS, detail


@dataclass(frozen=True)
class Claim:
    """One claim of reference/README.md: its number, text, check and the tables it is about."""

    number: int
    text: str
    check: Callable[..., tuple[str, str]]  # (values, baseline, tied) -> (status, detail); 1, 2, 4 ignore tied
    tables: tuple[str, ...]


CLAIMS = (
    Claim(1, "Every setting beats the HRNet baseline (77.3).", claim_beats_baseline, PAPER_TABLES),
    Claim(2, "γ_info > 0 beats γ_info = 0 in every column of Table I.", claim_info_beats_zero, ("table1",)),
    Claim(3, "Best of Table I: γ_info=1, γ_s=0.1; best γ_s per row is 0.1 or 1.", claim_table1_best, ("table1",)),
    Claim(4, "In Table II, the γ_com=0 column is flat whatever γ_var and γ_red.", claim_com0_flat, ("table2",)),
    Claim(5, "Best of Table II: γ_red=1, γ_var=1, γ_com=1.", claim_table2_best, ("table2",)),
    Claim(6, "Too large a weight (5) hurts relative to the best in each table.", claim_large_weight_hurts,
          PAPER_TABLES),
)


@dataclass
class ClaimResult:
    """The verdict on one claim: ``status`` is holds / fails / not testable / not applicable."""

    number: int
    text: str
    status: str
    detail: str
    paper_status: str = ""


def check_claims(table: str, values: Mapping[Cell, float], baseline: float | None = None,
                 tied: frozenset[Cell] | None = None) -> list[ClaimResult]:
    """Every claim checked on `values` (cells of `table`); claims about the other table are "not applicable".

    `tied`: with replicates, the cells not distinguishable from the best (`compare_to_best`, the † of
    `tipsd table`), the best included; claims 3, 5 and 6 then hold or fail only where the seed noise
    decides them, else their status is ``UNRESOLVED``. None (single values, the paper's) judges the
    means alone. Claims 2 and 4 are judged on the means either way.

    Example:
        >>> vals = cell_values(paper_runs("table1"), table_axes("table1"))
        >>> [r.status for r in check_claims("table1", vals, baseline=77.3)]
        ['holds', 'holds', 'holds', 'not applicable', 'not applicable', 'holds']
    """
    _check_table(table)
    out = []
    for claim in CLAIMS:
        if table not in claim.tables:
            out.append(ClaimResult(claim.number, claim.text, NOT_APPLICABLE, f"about {', '.join(claim.tables)}"))
            continue
        status, detail = claim.check(values, baseline, tied) if values else (NOT_TESTABLE, "no shared cell")
        out.append(ClaimResult(claim.number, claim.text, status, detail))
    return out


def tied_with_best(runs: pd.DataFrame, axes: tuple[str, ...], metric: str,
                   cells: set[Cell]) -> frozenset[Cell] | None:
    """The `cells` not distinguishable from the best of them, the best included (`compare_to_best`:
    seed-blocked comparison, Holm-corrected, α 0.05, as the † of `tipsd table`); None when no cell has
    two seeds (nothing can be tested: the claims are then judged on the means)."""
    from tipsd.analysis.stats import compare_to_best

    if "seed" not in runs or not cells:
        return None
    valid = runs.dropna(subset=list(axes) + [metric])
    keys = [cell_of(axes, k) for k in valid[list(axes)].itertuples(index=False)]
    valid = valid[[k in cells for k in keys]]
    if valid.empty or valid.groupby(list(axes))["seed"].nunique().max() < 2:
        return None
    res = compare_to_best(valid, metric, by=list(axes))
    keep = res["is_best"] | (res["tested"] & ~res["distinguishable"])
    return frozenset(cell_of(axes, r) for r in res.loc[keep, list(axes)].itertuples(index=False))


@dataclass
class Comparison:
    """A study set against a published table (see `compare_with_paper`)."""

    table: str
    axes: tuple[str, ...]
    shared: pd.DataFrame
    n_paper: int
    n_study: int
    spearman: float
    spearman_p: float
    best_paper: tuple[Cell, float] | None
    best_study: tuple[Cell, float] | None
    claims: list[ClaimResult]
    notes: list[str] = field(default_factory=list)
    effects: Effects | None = None  # each side's cells against its own reference cell


def compare_with_paper(
    runs: pd.DataFrame, table: str, *, metric: str = "value", baseline: float | None = None
) -> Comparison:
    """Compare finished runs with published `table` on the cells both have.

    Runs whose weights outside the table's axes differ from the paper's fixed values are dropped
    when that weight varies in the study (Table I: γ_com=γ_var=γ_red=1, inferred; Table II:
    γ_info=1, γ_s=0.1, stated).

    Args:
        runs: finished runs (`load_runs`).
        table: ``"table1"`` or ``"table2"``.
        metric: the study's column compared with the paper's mAP.
        baseline: the reproduction's HRNet baseline, for claim 1 (else "not testable").

    Returns:
        A `Comparison`: shared cells (paper, mean, std, n), Spearman ρ over them, each side's best
        shared cell, every claim checked on both sides, and the effects of the cells against a
        reference cell on each side (`tipsd.analysis.effects`: levels of different benchmarks are
        not comparable, effects are).

    Example:
        >>> c = compare_with_paper(paper_runs("table2"), "table2")
        >>> round(c.spearman, 6)
        1.0
    """
    from scipy import stats

    axes = table_axes(table)
    paper = cell_values(paper_runs(table), axes)
    notes = []
    for w, v in PAPER_FIXED[table].items():
        if w in runs and runs[w].dropna().nunique() > 1:
            runs = runs[np.isclose(runs[w].to_numpy(dtype=float), v)]
            notes.append(f"kept the runs with {greek(w)}={fmt_value(v)} (the paper's setting; it varies in the study)")
    study = cell_values(runs, axes, metric)
    groups = runs.dropna(subset=list(axes) + [metric]).groupby(list(axes))[metric]
    spread, count = groups.std(), groups.count()
    rows = []
    for cell, pv in paper.items():
        if cell in study:
            key = tuple(v for _, v in cell) if len(axes) > 1 else cell[0][1]
            rows.append({**dict(cell), "paper": pv, "mean": study[cell], "std": float(spread.get(key, np.nan)),
                         "n": int(count.get(key, 0))})
    shared = pd.DataFrame.from_records(rows, columns=list(axes) + ["paper", "mean", "std", "n"])
    shared_study = {c: study[c] for c in paper if c in study}
    rho = p = float("nan")
    if len(shared) >= 3 and shared["mean"].nunique() > 1:
        res = stats.spearmanr(shared["paper"], shared["mean"])
        rho, p = float(res.statistic), float(res.pvalue)
    else:
        notes.append(f"Spearman ρ needs 3 or more shared cells with distinct values; {len(shared)} shared")
    shared_paper = {c: paper[c] for c in shared_study}
    claims = check_claims(table, shared_study, baseline, tied_with_best(runs, axes, metric, set(shared_study)))
    for res_, ref in zip(claims, check_claims(table, paper, HRNET_BASELINE)):
        res_.paper_status = ref.status
    best_p = (_best(shared_paper), shared_paper[_best(shared_paper)]) if shared_paper else None
    best_s = (_best(shared_study), shared_study[_best(shared_study)]) if shared_study else None
    return Comparison(table, axes, shared, len(paper), len(study), rho, p, best_p, best_s, claims, notes,
                      effects_against_reference(shared, axes))


def render_comparison(c: Comparison, *, decimals: int = 1, level: int = 1) -> str:
    """The comparison as Markdown: summary, claims, and the shared cells side by side.

    Args:
        c: the comparison.
        decimals: digits of the study's values.
        level: Markdown level of its heading (its sections one deeper): 3 inside the report.
    """
    def best(b):
        return "–" if b is None else f"{_label(b[0])} ({b[1]:.{decimals}f})"

    head, section = "#" * level, "#" * (level + 1)
    rho = "n/a" if math.isnan(c.spearman) else f"{c.spearman:.3f} (p = {c.spearman_p:.3g})"
    lines = [f"{head} Study vs paper {c.table}", "",
             f"- Shared cells: {len(c.shared)} of {c.n_paper} published ({c.n_study} cells in the study)",
             f"- Spearman rank correlation ρ: {rho}",
             f"- Best shared cell, paper: {best(c.best_paper)}",
             f"- Best shared cell, reproduction: {best(c.best_study)}"]
    e = c.effects
    if e is not None:
        eff_rho = "n/a" if math.isnan(e.rho) else f"{e.rho:.3f} (p = {e.p:.3g})"
        lines += [f"- Effects: each cell minus the reference cell {_label(tuple(e.reference.items()))} ({e.why}) of "
                  "its own table (the two benchmarks' levels differ for reasons other than the weights)",
                  f"- Effects, Spearman ρ: {eff_rho}; same sign: {e.agree} of {e.compared} cells"]
    lines += [f"- Note: {n}" for n in c.notes]
    claims = [[str(r.number), r.text, r.paper_status, r.status, r.detail] for r in c.claims]
    lines += ["", f"{section} Claims", "", markdown_table(["#", "claim", "paper", "reproduction", "detail"], claims)]
    shared = []
    frame = e.cells if e is not None else c.shared
    for rec in frame.to_dict("records"):
        repro = f"{rec['mean']:.{decimals}f}"
        if rec["n"] >= 2:
            repro += f" ± {rec['std']:.{decimals}f}"
        shared.append([fmt_value(rec[a]) for a in c.axes]
                      + [f"{rec['paper']:.1f}", f"{rec['paper_effect']:+.1f}", repro,
                         f"{rec['study_effect']:+.{decimals}f}", str(rec["n"])])
    header = [greek(a) for a in c.axes] + ["paper", "paper effect", "reproduction", "reproduction effect", "n"]
    lines += ["", f"{section} Shared cells", "", markdown_table(header, shared)]
    return "\n".join(lines) + "\n"
