"""Paper-layout tables: exact Markdown / LaTeX / CSV for a tiny 2×2 study, blocks, missing cells,
best cell, the "not distinguishable" marker, per-joint tables, and the published tables."""
from __future__ import annotations

import pandas as pd
import pytest

from tipsd.analysis.paper import paper_table, reference_frame
from tipsd.analysis.runs import AnalysisError
from tipsd.analysis.tables import build_table, joint_table, render_table
from tipsd.analysis.demo_study import DEFAULT_GAMMAS


def runs_frame(rows: list[tuple[float, float, int, float]], **fixed) -> pd.DataFrame:
    """(gamma_info, gamma_s, seed, value) rows, other weights at their defaults."""
    recs = []
    for info, s, seed, value in rows:
        rec = {**DEFAULT_GAMMAS, **fixed, "gamma_info": info, "gamma_s": s, "seed": seed, "value": value}
        rec.update({f"metric.{j}": value for j in ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total")})
        recs.append(rec)
    return pd.DataFrame.from_records(recs)


# (0,0): 80, 81 | (0,0.1): 82, 82 | (1,0): 83, 85 | (1,0.1): missing. Best (1,0) = 84.0.
# Seed-blocked test (3 cells x 2 seeds): residuals x - row mean - seed mean + grand mean are 0, 0,
# ±0.5, ±0.5 -> MSE = 1 / df 2 = 0.5, SE of a gap sqrt(2 * 0.5 / 2) = 0.7071. (0,0): gap 3.5, t 4.95
# -> p = 0.03848; (0,0.1): gap 2, t 2.828 -> p = 0.10557; Holm 0.07695, 0.10557.
TINY = runs_frame([(0, 0, 0, 80.0), (0, 0, 1, 81.0), (0, 0.1, 0, 82.0), (0, 0.1, 1, 82.0),
                   (1, 0, 0, 83.0), (1, 0, 1, 85.0)])


def test_tiny_markdown_exact():
    t = build_table(TINY, rows="gamma_info", cols="gamma_s")
    assert render_table(t, "markdown") == (
        "| γ_info \\ γ_s | 0 | 0.1 |\n"
        "| --- | --- | --- |\n"
        "| 0 | 80.5 ± 0.7 † | 82.0 ± 0.0 † |\n"
        "| 1 | **84.0 ± 1.4** | – |\n"
        "\n"
        "Bold: best cell.\n"
        "Values: mean ± std over seeds.\n"
        "†: not distinguishable from the best (t-test on the seed-blocked ANOVA's pooled error, Holm-corrected, α = 0.05).\n"
        "Missing cells (–): 1 of 4.\n"
    )
    assert t.n_missing == 1 and t.best == (0, 1, 0)
    assert t.p_holm[0, 0, 0] == pytest.approx(0.07695, abs=1e-4)
    assert t.p_holm[0, 0, 1] == pytest.approx(0.10557, abs=1e-4)


def test_tiny_latex_exact():
    t = build_table(TINY, rows="gamma_info", cols="gamma_s")
    assert render_table(t, "latex", notes=False) == (
        "\\begin{tabular}{lcc}\n"
        "\\toprule\n"
        "$\\gamma_{\\mathrm{info}}$ \\textbackslash{} $\\gamma_{\\mathrm{s}}$ & 0 & 0.1 \\\\\n"
        "\\midrule\n"
        "0 & $80.5 \\pm 0.7$$^{\\dagger}$ & $82.0 \\pm 0.0$$^{\\dagger}$ \\\\\n"
        "1 & $\\mathbf{84.0 \\pm 1.4}$ & -- \\\\\n"
        "\\bottomrule\n"
        "\\end{tabular}\n"
    )


def test_single_seed_tables_have_no_spread_and_bold_best():
    one = runs_frame([(0, 0, 0, 80.0), (0, 0.1, 0, 81.0), (1, 0, 0, 79.0), (1, 0.1, 0, 82.5)])
    t = build_table(one)  # auto layout: rows gamma_info, cols gamma_s
    assert render_table(t, "markdown") == (
        "| γ_info \\ γ_s | 0 | 0.1 |\n| --- | --- | --- |\n| 0 | 80.0 | 81.0 |\n| 1 | 79.0 | **82.5** |\n"
        "\nBold: best cell.\n"
    )
    assert "1 & 79.0 & \\textbf{82.5} \\\\\n" in render_table(t, "latex")
    assert render_table(t, "csv") == "gamma_info,gamma_s=0,gamma_s=0.1\n0,80.0000,81.0000\n1,79.0000,82.5000\n"
    low = build_table(one, higher_is_better=False)
    assert low.best == (0, 1, 0)


def test_blocks_layout_and_errors():
    recs = []
    for red in (0.0, 1.0):
        for var in (0.0, 1.0):
            for com in (0.0, 1.0):
                recs.append({**DEFAULT_GAMMAS, "gamma_red": red, "gamma_var": var, "gamma_com": com, "seed": 0,
                             "value": 80 + red + 2 * var + 4 * com})
    runs = pd.DataFrame.from_records(recs)
    t = build_table(runs)  # three weights vary: the Table II layout
    assert (t.blocks, t.rows, t.cols) == ("gamma_red", "gamma_var", "gamma_com")
    md = render_table(t, "markdown", notes=False).splitlines()
    assert md[2] == "| γ_red = 0 |  |  |"
    assert md[3] == "| 0 | 80.0 | 84.0 |"
    assert md[5] == "| γ_red = 1 |  |  |"
    assert md[7] == "| 1 | 83.0 | **87.0** |"
    tex = render_table(t, "latex", notes=False)
    assert "\\multicolumn{3}{l}{$\\gamma_{\\mathrm{red}}$ = 1} \\\\" in tex
    assert render_table(t, "csv").splitlines()[0] == "gamma_red,gamma_var,gamma_com=0,gamma_com=1"
    with pytest.raises(AnalysisError, match=r"^weight 'gamma_red' varies in the study \(0, 1\) but is not on an axis"):
        build_table(runs, rows="gamma_var", cols="gamma_com", blocks="gamma_info")
    pinned = build_table(runs, rows="gamma_var", cols="gamma_com", where={"gamma_red": 1.0})
    assert pinned.mean[0].tolist() == [[81.0, 85.0], [83.0, 87.0]] and pinned.fixed["gamma_red"] == 1.0
    with pytest.raises(AnalysisError, match=r"^weight 'gamma_foo' is not in the study; did you mean gamma_info\?$"):
        build_table(runs, rows="gamma_foo")
    with pytest.raises(AnalysisError, match=r"^no run has gamma_red=5; did you mean gamma_red=1\? \(its values: 0, 1\)$"):
        build_table(runs, where={"gamma_red": 5})


def test_joint_table_for_chosen_cells():
    jt = joint_table(TINY, [{"gamma_info": 1, "gamma_s": 0}, {"gamma_info": 0, "gamma_s": 0.1}])
    assert list(jt.columns) == ["Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total", "n"]
    assert list(jt.index) == ["γ_info=1, γ_s=0", "γ_info=0, γ_s=0.1"]
    assert jt.loc["γ_info=1, γ_s=0", "Total"] == 84.0 and jt.loc["γ_info=1, γ_s=0", "n"] == 2


def parse_markdown(text: str) -> dict[tuple, float]:
    """Markdown table (optionally with block rows) -> {(block, row, col): value}."""
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    cols = [c.strip() for c in lines[0].strip("|").split("|")][1:]
    out, block = {}, None
    for ln in lines[2:]:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        if cells[0].startswith("γ_") and "=" in cells[0]:
            block = float(cells[0].split("=")[1])
            continue
        for col, cell in zip(cols, cells[1:]):
            out[(block, float(cells[0]), float(col))] = float(cell.strip("*"))
    return out


@pytest.mark.parametrize("name, block, row, col", [
    ("table1", None, "gamma_info", "gamma_s"),
    ("table2", "gamma_red", "gamma_var", "gamma_com"),
])
def test_published_tables_reproduce_every_number(name, block, row, col, capsys):
    from tipsd.sweep.cli import main

    ref = reference_frame()
    ref = ref[ref["table"] == name]
    t = paper_table(name)
    assert main(["paper", name, "--format", "markdown"]) == 0
    cells = parse_markdown(capsys.readouterr().out)
    assert len(cells) == len(ref) == t.n_cells and t.n_missing == 0
    for rec in ref.to_dict("records"):
        key = (rec[block] if block else None, rec[row], rec[col])
        assert cells[key] == rec["map"], key
    assert t.best is not None and t.mean[t.best] == 86.2
