"""Heatmap plot data (not pixels) and the saved files."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tipsd.analysis.heatmap import _heatmap_data, plot_heatmap, save_heatmap
from tipsd.analysis.paper import paper_table
from tipsd.analysis.runs import AnalysisError
from tipsd.analysis.tables import build_table


def test_table2_panels_share_one_scale_and_outline_the_best():
    data = _heatmap_data(paper_table("table2"))
    assert len(data.panels) == 4 and all(p.shape == (4, 4) for p in data.panels)
    assert data.titles == [f"$\\gamma_{{\\mathrm{{red}}}}$ = {v}" for v in ("0", "0.1", "1", "5")]
    assert (data.vmin, data.vmax) == (83.7, 86.2)
    assert data.best == (2, 2, 2)  # gamma_red = 1, gamma_var = 1, gamma_com = 1
    assert data.annotations[2][2, 2] == "86.2"
    assert data.xlabel == "$\\gamma_{\\mathrm{com}}$" and data.ylabel == "$\\gamma_{\\mathrm{var}}$"
    assert data.row_labels == data.col_labels == ["0", "0.1", "1", "5"]
    assert data.panels[0][0].tolist() == [83.9, 84.0, 84.0, 83.7]


def test_missing_cells_and_dagger_in_annotations():
    runs = pd.DataFrame({"gamma_info": [0, 0, 1, 1, 0, 0], "gamma_s": [0, 0, 0, 0, 1, 1], "seed": [0, 1] * 3,
                         "value": [80.0, 81.0, 83.0, 85.0, 82.0, 82.0]})
    data = _heatmap_data(build_table(runs), decimals=1)
    assert data.annotations[0].tolist() == [["80.5†", "82.0†"], ["84.0", ""]]
    assert np.isnan(data.panels[0][1, 1]) and data.best == (0, 1, 0)
    assert data.cmap == "viridis"
    assert _heatmap_data(build_table(runs, higher_is_better=False)).cmap == "viridis_r"


def test_plot_returns_axes_and_files_are_written(tmp_path):
    axes = plot_heatmap(table=paper_table("table2"))
    assert len(axes) == 4 and axes[0].get_xlabel() == "$\\gamma_{\\mathrm{com}}$"
    assert len(axes[2].patches) == 1  # the best cell's outline
    for suffix in (".png", ".pdf", ".svg"):
        out = save_heatmap(paper_table("table1"), tmp_path / f"h{suffix}")
        assert out.stat().st_size > 1000
    with pytest.raises(AnalysisError, match=r"^heatmap file '.*h\.jpg' should end in \.png, \.pdf or \.svg$"):
        save_heatmap(paper_table("table1"), tmp_path / "h.jpg")
