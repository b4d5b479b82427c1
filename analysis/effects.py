"""Effects, not levels: how a study's cells differ from a reference cell of its own table, set beside
the same differences in the published table.

The absolute numbers of a reproduction on another benchmark (the synthetic PoseTrack-format data, a
small network) and the paper's PoseTrack2017 mAP differ by tens of points for reasons that have
nothing to do with the loss weights, so their difference means nothing. What can agree is the
*effect* of the weights: each cell's difference from a reference cell of the same table. The
reference is the cell with every tabulated weight at 0 (the method without the terms) when both sides
have it, else the paper's best shared cell.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Effects:
    """Effects of the shared cells against `reference` (see the module docstring).

    Attributes:
        reference: the reference cell, ``{weight: value}``; why: ``"all weights 0"`` or ``"paper's best"``.
        cells: the shared cells (axes, ``paper``, ``mean``) with ``paper_effect`` and ``study_effect``
            (each side's value minus its own reference value; metric points).
        rho, p: Spearman rank correlation of the effects over the cells other than the reference (NaN
            with fewer than 3 such cells or a constant side).
        agree, compared: cells other than the reference whose effects have the same sign (0 counts as
            its own sign), and how many were compared.
    """

    reference: dict[str, float]
    why: str
    cells: pd.DataFrame
    rho: float
    p: float
    agree: int
    compared: int


def effects_against_reference(shared: pd.DataFrame, axes: tuple[str, ...]) -> Effects | None:
    """Effects of `shared` (one row per cell: `axes`, ``paper``, ``mean``) against the reference cell.

    Returns:
        `Effects`, or None when `shared` is empty.

    Example:
        >>> shared = pd.DataFrame({"gamma_s": [0.0, 1.0, 5.0], "paper": [80.0, 82.0, 79.0],
        ...                        "mean": [10.0, 11.0, 12.0]})
        >>> e = effects_against_reference(shared, ("gamma_s",))
        >>> e.why, e.cells["study_effect"].tolist(), (e.agree, e.compared)
        ('all weights 0', [0.0, 1.0, 2.0], (1, 2))
    """
    from scipy import stats

    if not len(shared):
        return None
    axes = list(axes)
    zero = (shared[axes] == 0).all(axis=1)
    if zero.any():
        ref, why = shared[zero].index[0], "all weights 0"
    else:
        ref, why = shared["paper"].idxmax(), "paper's best"
    cells = shared.copy()
    cells["paper_effect"] = cells["paper"] - cells.at[ref, "paper"]
    cells["study_effect"] = cells["mean"] - cells.at[ref, "mean"]
    rest = cells.drop(index=ref)
    agree = int((np.sign(rest["paper_effect"].round(9)) == np.sign(rest["study_effect"].round(9))).sum())
    rho = p = math.nan
    if len(rest) >= 3 and rest["paper_effect"].nunique() > 1 and rest["study_effect"].nunique() > 1:
        res = stats.spearmanr(rest["paper_effect"], rest["study_effect"])
        rho, p = float(res.statistic), float(res.pvalue)
    return Effects({a: float(cells.at[ref, a]) for a in axes}, why, cells, rho, p, agree, len(rest))
