"""What every table, heatmap and report says under its numbers: how much of the study is done (a
partial study must not look complete) and how much of the spread is signal (`tipsd.analysis.signal`).

The study's plan comes from its stored spec (``tipsd.spec``, the study file as written): the weights
it searches and, for a grid, their values, so that a partial study keeps the spec's axes and shows
its missing cells instead of laying out whatever happened to finish first.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import pandas as pd

from tipsd.model.record import GAMMA_NAMES


@dataclass(frozen=True)
class Plan:
    """What a study's spec asks for.

    Attributes:
        grid: searched weight -> its grid values (grid studies; ``[]`` for a range).
        searched: the searched weights that take more than one value, in the paper's order.
        seeds: the seed count each cell aims for (the largest when a racing spec gives a range).
        total: runs the study aims for (cells × seeds; budget × seeds for a sampler), 0 if unknown.
    """

    grid: dict[str, list[float]] = field(default_factory=dict)
    searched: list[str] = field(default_factory=list)
    seeds: int = 0
    total: int = 0


def study_plan(user_attrs: Mapping[str, Any]) -> Plan:
    """The `Plan` in a study's ``tipsd.spec`` attribute (an empty one for a study without it).

    Example:
        >>> p = study_plan({"tipsd.spec": {"space": {"gamma_s": [0, 1], "gamma_info": [0, 1, 5]},
        ...                                "seeds": [0, 1]}})
        >>> p.searched, p.seeds, p.total
        (['gamma_info', 'gamma_s'], 2, 12)
    """
    spec = user_attrs.get("tipsd.spec")
    if not isinstance(spec, Mapping) or not isinstance(spec.get("space"), Mapping):
        return Plan()
    grid = {str(k): ([float(v) for v in vals] if isinstance(vals, list) else [])
            for k, vals in spec["space"].items() if k in GAMMA_NAMES}
    searched = [g for g in GAMMA_NAMES if g in grid and len(grid[g]) != 1]
    seeds = spec.get("seeds", [0])
    # a racing spec gives {min, max}: a cell may get up to max seeds
    n_seeds = len(seeds) if isinstance(seeds, list) else int(seeds.get("max", 0)) if isinstance(seeds, Mapping) else 0
    is_grid = str(spec.get("sampler", "grid")) == "grid" and all(grid.values())
    cells = math.prod(len(v) for v in grid.values()) if is_grid else int(spec.get("budget") or 0)
    return Plan(grid=grid if is_grid else {}, searched=searched, seeds=n_seeds, total=cells * n_seeds)


def progress_line(plan: Plan, runs: pd.DataFrame, by: Sequence[str] | None = None, *,
                  race: pd.DataFrame | None = None) -> str:
    """``"Partial study: 2 of 128 runs done; seeds per cell: 1 (2 cells), 0 (62 cells)."``, or ``""``
    when every planned run is done (or the plan is unknown).

    Args:
        plan: the study's `Plan`.
        runs: finished runs (one row per run; ``seed`` and the weights).
        by: the weights that define a cell (default: the plan's searched weights).
        race: a racing study's race per cell (`tipsd.analysis.racing.study_race`): the runs planned
            are then the seeds the race gives its cells now (``race_n``), not cells × max, so a
            finished race is not called partial.

    Example:
        >>> plan = Plan(grid={"gamma_s": [0.0, 1.0]}, searched=["gamma_s"], seeds=2, total=4)
        >>> progress_line(plan, pd.DataFrame({"gamma_s": [0.0, 0.0, 1.0], "seed": [0, 1, 0]}))
        'Partial study: 3 of 4 runs done; seeds per cell: 2 (1 cell), 1 (1 cell).'
    """
    by = list(by or plan.searched)
    done = runs.drop_duplicates(subset=[*by, "seed"]) if len(runs) else runs
    total, of = plan.total, ""
    if race is not None and len(race):
        total = int(race["race_n"].sum())
        of = f" (the race's plan now; {plan.total} in the full {plan.seeds}-seed grid)"
    if not total or len(done) >= total:
        return ""
    per_cell = done.groupby(by).size() if by and len(done) else pd.Series(dtype=int)
    counts = per_cell.value_counts().to_dict()
    if plan.grid:  # cells of the grid without a finished run
        n_cells = math.prod(len(plan.grid[g]) for g in plan.grid)
        if n_cells > len(per_cell):
            counts[0] = counts.get(0, 0) + n_cells - len(per_cell)
    seeds = ", ".join(f"{k} ({n} cell{'s' if n != 1 else ''})" for k, n in sorted(counts.items(), reverse=True))
    return f"Partial study: {len(done)} of {total} runs done{of}" + (f"; seeds per cell: {seeds}." if seeds else ".")


def signal_text(runs: pd.DataFrame, metric: str, *, higher_is_better: bool = True, by: Sequence[str] | None = None):
    """`render_signal` of `signal_summary` over `runs` with the cells defined by `by` (default: the
    weights that vary in `runs`): the footer line and the Markdown section.

    Example:
        >>> r = pd.DataFrame({"gamma_s": [0.0] * 3 + [1.0] * 3, "seed": [0, 1, 2] * 2,
        ...                   "value": [1.0, 3, 5, 4, 5, 9]})
        >>> signal_text(r, "value").footer.split(";")[0]
        'Signal: ANOVA over 2 cells blocked by 3 seeds F(1, 2) = 27, p = 0.035'
    """
    from tipsd.analysis.signal import render_signal, signal_summary
    from tipsd.analysis.tables import varying_weights

    cells = list(by) if by else (varying_weights(runs) or [g for g in GAMMA_NAMES if g in runs][:1])
    return render_signal(signal_summary(runs, metric, by=cells, higher_is_better=higher_is_better))
