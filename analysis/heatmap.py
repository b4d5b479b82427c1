"""Heatmaps of a `PaperTable`: one panel per block, one shared colour scale, values annotated, the best
cell outlined, cells indistinguishable from the best marked "†", axes named in Greek.

`_heatmap_data` computes everything drawn (tests assert on it); `plot_heatmap` only draws.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tipsd.analysis.runs import AnalysisError
from tipsd.analysis.tables import DAGGER_NOTE, PaperTable, fmt_value, greek
from tipsd.model.record import LOSS, METRIC

FIGURE_SUFFIXES = (".png", ".pdf", ".svg")  # what save_heatmap writes (matplotlib picks the format)


@dataclass
class HeatmapData:
    """What `plot_heatmap` draws.

    Attributes:
        panels: one ``(rows, cols)`` array of means per block (NaN = missing cell).
        annotations: the text in each cell, same shapes (``""`` for missing cells).
        titles: panel titles (``"γ_red = 0"``; ``""`` without blocks).
        row_labels, col_labels: tick labels; xlabel, ylabel: axis names (matplotlib mathtext).
        vmin, vmax: the shared colour scale.
        best: ``(panel, row, col)`` of the best cell, or None.
        cmap: colour map (reversed when lower is better, so "good" has the same colour).
        title: figure title; cbar_label: the colour bar's metric and unit (mAP and AP are percent).
        caption: lines under the figure: what the outline and "†" mean, and a partial study's progress.
    """

    panels: list[np.ndarray]
    annotations: list[np.ndarray]
    titles: list[str]
    row_labels: list[str]
    col_labels: list[str]
    xlabel: str
    ylabel: str
    vmin: float
    vmax: float
    best: tuple[int, int, int] | None
    cmap: str
    title: str
    cbar_label: str = ""
    caption: list[str] = field(default_factory=list)


def _heatmap_data(table: PaperTable, *, decimals: int = 1, title: str = "", caption: str = "") -> HeatmapData:
    """Compute the panels, annotations, shared colour scale, best cell and caption of `table`
    (`caption`: a further line, e.g. a partial study's progress)."""
    finite = table.mean[np.isfinite(table.mean)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if vmin == vmax:  # a flat table still needs a non-empty colour range
        vmin, vmax = vmin - 0.5, vmax + 0.5
    name = title or table.metric.removeprefix(METRIC)
    panels, annotations, titles = [], [], []
    for b, bv in enumerate(table.block_values):
        panel = table.mean[b].copy()
        ann = np.full(panel.shape, "", dtype=object)
        for (r, c), m in np.ndenumerate(panel):
            if np.isfinite(m):
                ann[r, c] = f"{m:.{decimals}f}"
                if table.tested[b, r, c] and not table.distinguishable[b, r, c]:
                    ann[r, c] += "†"
                if table.race_status is not None and table.race_status[b, r, c]:  # racing: runs of the mean
                    out = table.race_status[b, r, c] == "separated"
                    have, planned = int(table.n[b, r, c]), int(table.race_n[b, r, c])
                    ann[r, c] += f"\n{'out ' if out else ''}n{have}" + (f"/{planned}" if have < planned else "")
        panels.append(panel)
        annotations.append(ann)
        titles.append("" if table.blocks is None else f"{greek(table.blocks, 'latex')} = {fmt_value(bv)}")
    return HeatmapData(
        panels=panels,
        annotations=annotations,
        titles=titles,
        row_labels=[fmt_value(v) for v in table.row_values],
        col_labels=[fmt_value(v) for v in table.col_values],
        xlabel=greek(table.cols, "latex"),
        ylabel=greek(table.rows, "latex"),
        vmin=vmin,
        vmax=vmax,
        best=table.best,
        cmap="viridis" if table.higher_is_better else "viridis_r",
        title=name,
        cbar_label=name if table.metric.startswith(LOSS) else f"{name} (%)",
        caption=[line for line in (_legend(table), caption) if line],
    )


def _legend(table: PaperTable) -> str:
    """What the red outline and "†" mean (the table's notes say the same)."""
    text = "Red outline: best cell" + (" (lowest)" if not table.higher_is_better else "") + "."
    if (table.tested & ~table.distinguishable).any():
        text += " †: " + DAGGER_NOTE.format(alpha=table.alpha) + "."
    return text


def plot_heatmap(*, table: PaperTable, ax=None, decimals: int = 1, title: str = "", caption: str = ""):
    """Draw `table` as annotated heatmaps (one panel per block, shared colour scale).

    Args:
        table: a computed `PaperTable`.
        ax: one Axes per block (a single Axes when there are no blocks), or None for a new figure.
        decimals: digits of the annotations.
        title: figure title (default: the metric's name).
        caption: a further line under the figure (e.g. "Partial study: 2 of 128 runs done").

    Returns:
        The Axes (a list when there are several panels).

    Example:
        >>> ax = plot_heatmap(table=build_table(runs))  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.patches import Rectangle

    data = _heatmap_data(table, decimals=decimals, title=title, caption=caption)
    k = len(data.panels)
    if ax is None:
        rows, cols = len(data.row_labels), len(data.col_labels)
        fig, axes = plt.subplots(1, k, figsize=(1.0 + k * (0.9 * cols + 1.2), 1.2 + 0.6 * rows), squeeze=False)
        axes = list(axes[0])
    else:
        axes = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
        if len(axes) != k:
            raise AnalysisError(f"plot_heatmap needs {k} Axes (one per block), got {len(axes)}")
        fig = axes[0].figure
    for p, (panel, ann, a) in enumerate(zip(data.panels, data.annotations, axes)):
        sns.heatmap(panel, ax=a, vmin=data.vmin, vmax=data.vmax, cmap=data.cmap, annot=ann, fmt="",
                    cbar=p == k - 1, xticklabels=data.col_labels, yticklabels=data.row_labels,
                    linewidths=0.5, linecolor="white", mask=~np.isfinite(panel),
                    annot_kws={"fontsize": 10}, cbar_kws={"label": data.cbar_label})
        a.set_xlabel(data.xlabel)
        a.set_ylabel(data.ylabel if p == 0 else "")
        a.set_title(data.titles[p])
        a.set_facecolor("#dddddd")  # missing cells show grey
        if data.best is not None and data.best[0] == p:
            _, r, c = data.best
            a.add_patch(Rectangle((c, r), 1, 1, fill=False, edgecolor="red", linewidth=2.5))
    fig.suptitle(data.title)
    fig.tight_layout()
    # the legend of the outline and "†" (and a partial study's progress) travel with the figure
    fig.text(0.01, 0.0, "\n".join(data.caption), ha="left", va="top", fontsize=8, wrap=True)
    return axes[0] if k == 1 else axes


def save_heatmap(table: PaperTable, path: str | Path, *, decimals: int = 1, title: str = "",
                 caption: str = "") -> Path:
    """Draw `table` and save it (PNG, PDF or SVG by the suffix); an unwritable path is an `AnalysisError`.
    `caption` is a further line under the figure (see `plot_heatmap`)."""
    import matplotlib.pyplot as plt

    path = Path(path)
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        *most, last = FIGURE_SUFFIXES
        raise AnalysisError(f"heatmap file '{path}' should end in {', '.join(most)} or {last}")
    axes = plot_heatmap(table=table, decimals=decimals, title=title, caption=caption)
    fig = (axes[0] if isinstance(axes, list) else axes).figure
    try:
        fig.savefig(path, dpi=150, bbox_inches="tight")
    except OSError as err:
        raise AnalysisError(f"cannot write '{path}': {err.strerror or err}") from None
    finally:
        plt.close(fig)
    return path
