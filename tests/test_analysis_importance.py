"""Importances (every weight), main effects and interactions."""
from __future__ import annotations

import pandas as pd
import pytest

from tipsd.analysis.importance import interaction_share, interactions, main_effects, weight_importances
from tipsd.analysis.paper import paper_runs


def test_importance_returns_every_weight():
    runs = paper_runs("table2")
    imp = weight_importances(runs)
    assert imp["weight"].tolist() == ["gamma_info", "gamma_s", "gamma_com", "gamma_var", "gamma_red"]
    assert imp["varies"].tolist() == [False, False, True, True, True]
    ped = imp.set_index("weight")["ped_anova"]
    assert ped[["gamma_com", "gamma_var", "gamma_red"]].sum() == pytest.approx(1.0)
    assert (ped[["gamma_info", "gamma_s"]] == 0).all()
    assert weight_importances(runs)["ped_anova"].tolist() == imp["ped_anova"].tolist()  # pinned


def test_fanova_importance_is_pinned_and_sums_to_one():
    imp = weight_importances(paper_runs("table1"), evaluators=("fanova",)).set_index("weight")["fanova"]
    assert imp[["gamma_info", "gamma_s"]].sum() == pytest.approx(1.0)
    again = weight_importances(paper_runs("table1"), evaluators=("fanova",)).set_index("weight")["fanova"]
    assert again.tolist() == imp.tolist()  # seed pinned: the same report twice


def test_main_effects_by_hand():
    eff = main_effects(paper_runs("table1")).set_index(["weight", "value"])
    # gamma_info = 0 row of Table I: 83.0, 83.5, 83.9, 83.7 -> mean 83.525
    assert eff.loc[("gamma_info", 0.0), "mean"] == pytest.approx(83.525)
    assert eff.loc[("gamma_s", 0.1), "mean"] == pytest.approx((83.5 + 85.9 + 86.2 + 85.8) / 4)
    assert eff.loc[("gamma_s", 0.1), "n"] == 4


def test_interaction_share_by_hand():
    r = pd.DataFrame({"gamma_com": [0, 0, 1, 1], "gamma_red": [0, 1, 0, 1], "value": [1.0, 2.0, 3.0, 6.0]})
    # interaction contrast (1 - 2 - 3 + 6) / 4 = 0.5 per cell: SS_int = 1, SS_total = 14
    assert interaction_share(r, "gamma_com", "gamma_red") == pytest.approx(1 / 14)
    additive = r.assign(value=[1.0, 2.0, 3.0, 4.0])
    assert interaction_share(additive, "gamma_com", "gamma_red") == pytest.approx(0.0)
    inter = interactions(paper_runs("table2"))
    assert inter[["weight_a", "weight_b"]].values.tolist()[0] == ["gamma_com", "gamma_red"]
    assert len(inter) == 3 and (inter["n_cells"] == 16).all()


def test_main_effects_plot_labels_ticks_with_the_weight_values():
    from tipsd.analysis.importance import plot_main_effects

    ax = plot_main_effects(effects=main_effects(paper_runs("table1")))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "0.1", "1", "5"]
    assert ax.get_xlabel() == "weight value"
    uneven = pd.DataFrame({"weight": ["gamma_s", "gamma_s", "gamma_red"], "value": [0.0, 1.0, 5.0],
                           "mean": [1.0, 2.0, 3.0], "std": [0.0, 0.0, 0.0]})
    ax = plot_main_effects(effects=uneven)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0/5", "1/–"]


def test_report_html_right_aligns_numbers_and_left_aligns_text():
    from tipsd.analysis.html import markdown_to_html

    page = markdown_to_html("| # | claim | value |\n| --- | --- | --- |\n| 3 | Best of Table I is long text. | **86.20 ± 0.31** † |")
    assert ('<tr><td class="num">3</td><td>Best of Table I is long text.</td>'
            '<td class="num"><b>86.20 ± 0.31</b> †</td></tr>') in page
    assert "td.num{text-align:right}" in page and "text-align:left}" in page
