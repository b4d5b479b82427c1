"""Tables as text, written once: a Markdown pipe table or a LaTeX booktabs tabular from a header and
rows of cell texts, and a DataFrame's values as cell texts. Every table tipsd prints (`tipsd table`,
the report, the comparison with the paper) goes through these two writers.

A row is a list of cell texts, or a string: a section row (a block title such as ``γ_red = 0``),
written in the first cell in Markdown and across the whole width in LaTeX.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

MISSING = "–"  # a missing value (a cell without runs, a NaN)

Row = Sequence[str] | str


def markdown_table(header: Sequence[str], rows: Sequence[Row]) -> str:
    """A Markdown pipe table (no trailing newline).

    Example:
        >>> print(markdown_table(["a", "b"], ["block 1", ["1", "2"]]))
        | a | b |
        | --- | --- |
        | block 1 |  |
        | 1 | 2 |
    """
    width = len(header)
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * width]
    for row in rows:
        cells = [row] + [""] * (width - 1) if isinstance(row, str) else list(row)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def latex_tabular(header: Sequence[str], rows: Sequence[Row]) -> str:
    """A booktabs ``tabular`` (no trailing newline): first column left-aligned, the others centred; a
    section row spans the width, after a ``\\midrule`` unless it comes first.

    Example:
        >>> print(latex_tabular(["a", "b"], [["1", "2"]]))
        \\begin{tabular}{lc}
        \\toprule
        a & b \\\\
        \\midrule
        1 & 2 \\\\
        \\bottomrule
        \\end{tabular}
    """
    width = len(header)
    lines = [f"\\begin{{tabular}}{{l{'c' * (width - 1)}}}", "\\toprule", " & ".join(header) + " \\\\", "\\midrule"]
    for k, row in enumerate(rows):
        if isinstance(row, str):
            if k:
                lines.append("\\midrule")
            lines.append(f"\\multicolumn{{{width}}}{{l}}{{{row}}} \\\\")
        else:
            lines.append(" & ".join(row) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines)


def cell_text(value: Any, decimals: int) -> str:
    """One value as a table cell: floats with `decimals` digits (NaN as `MISSING`), booleans as
    yes/no, anything else as ``str``.

    Example:
        >>> cell_text(0.123, 2), cell_text(float("nan"), 2), cell_text(True, 2), cell_text(3, 2)
        ('0.12', '–', 'yes', '3')
    """
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        return MISSING if math.isnan(value) else f"{value:.{decimals}f}"
    return str(value)


def frame_rows(frame, decimals: int, *, index: bool = False) -> list[list[str]]:
    """The rows of a DataFrame as cell texts (`cell_text`), the index first if asked."""
    rows = []
    for label, rec in zip(frame.index, frame.itertuples(index=False)):
        rows.append(([str(label)] if index else []) + [cell_text(v, decimals) for v in rec])
    return rows


__all__ = ["MISSING", "cell_text", "frame_rows", "latex_tabular", "markdown_table"]
