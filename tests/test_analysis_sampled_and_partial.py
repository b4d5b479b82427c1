"""What the analysis commands show for a sampled (Bayesian) study, whose settings are no grid, and for a
grid study with missing cells or unequal seeds: ranked settings instead of a sparse grid, and no
importance that looks complete when it is not. Values chosen so that every number is checked by hand."""
from __future__ import annotations

import pytest

from tipsd.analysis.demo_study import grid_runs, make_study
from tipsd.sweep.cli import main

# three settings x two seeds: means 81 (std √2), 90.5 (std √0.5), 86.5 (std √4.5)
SETTINGS = [({"gamma_info": 0.5, "gamma_s": 2.0}, (80.0, 82.0)), ({"gamma_info": 3.0, "gamma_s": 0.2}, (90.0, 91.0)),
            ({"gamma_info": 1.5, "gamma_s": 7.0}, (85.0, 88.0))]
SAMPLED_SPEC = {"name": "bay", "sampler": "tpe", "seeds": [0, 1], "budget": 3,
                "space": {"gamma_info": {"low": 0.01, "high": 10, "log": True},
                          "gamma_s": {"low": 0.01, "high": 10, "log": True}}}


@pytest.fixture
def sampled_url(tmp_path):
    url = f"sqlite:///{tmp_path}/b.db"
    make_study(url, "bay", [(g, s, v[s]) for g, v in SETTINGS for s in (0, 1)], spec=SAMPLED_SPEC)
    return url


def test_table_of_a_sampled_study_ranks_its_settings(sampled_url, capsys):
    assert main(["table", "bay", "--storage", sampled_url]) == 0
    out, err = capsys.readouterr()
    # CI: mean ± t(0.975, 1) · std / √2 = mean ± 12.706 · std / √2
    assert out.startswith(
        "| rank | γ_info | γ_s | mean | std | n | 95 % CI | p (Holm) |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n"
        "| 1 | 3 | 0.2 | 90.5 | 0.7 | 2 | [84.1, 96.9] | – |\n"
        "| 2 | 1.5 | 7 | 86.5 † | 2.1 | 2 | [67.4, 105.6] | ")
    assert "\n| 3 | 0.5 | 2 | 81.0 † | 1.4 | 2 | [68.3, 93.7] | " in out
    assert "The 3 settings the tpe sampler proposed, ranked by the mean over seeds (highest first)" in out
    # seed-blocked ANOVA by hand: SS cells 91 (df 2), SS seeds 6, SS error 1 (df 2): F = 45.5 / 0.5 = 91
    assert "\nSignal: ANOVA over 3 cells blocked by 2 seeds F(2, 2) = 91, p = 0.011;" in out
    assert "Missing" not in out + err and "note: cell" not in err
    assert main(["table", "bay", "--storage", sampled_url, "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "rank,gamma_info,gamma_s,mean,std,n,ci_low,ci_high,p_holm,distinguishable,p_best"
    assert lines[1].startswith("1,3,0.2,90.5,0.7071,2,84.15,96.85,,")


def test_heatmap_of_a_sampled_study_says_it_needs_a_grid(sampled_url, tmp_path, capsys):
    assert main(["heatmap", "bay", "--storage", sampled_url, "-o", str(tmp_path / "h.png")]) == 2
    assert capsys.readouterr().err == (
        "tipsd heatmap: error: study 'bay' samples its weights (sampler tpe): its 3 settings are not a grid, and "
        "a heatmap needs one; tipsd table bay ranks them (or name the axes with --rows/--cols to draw them "
        "anyway)\n")
    assert not (tmp_path / "h.png").exists()


def test_report_and_importance_of_a_sampled_study(sampled_url, tmp_path, capsys):
    assert main(["report", "bay", "--storage", sampled_url, "-o", str(tmp_path / "rep"), "--no-upload",
                 "--no-figures"]) == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| 1 | 3 | 0.2 | 90.50 | 0.71 | 2 | [84.15, 96.85] | – |" in md
    assert "No heatmap: the tpe sampler's settings are not a grid" in md
    for absent in ("## Cells", "## Main effects", "## Interactions", "Missing cells", "heatmap.png"):
        assert absent not in md
    assert not (tmp_path / "rep" / "heatmap.png").exists()
    assert main(["importance", "bay", "--storage", sampled_url]) == 0
    out = capsys.readouterr().out
    assert "## Importance (normalised)" in out and "## Main effects" not in out
    assert "Note: Runs per cell: 2 (3 cells).\n" in out
    assert "Note: Main effects and interactions are not shown: the tpe sampler's settings are not a grid" in out


@pytest.fixture
def partial_url(tmp_path):
    """A 3 x 3 grid x 2 seeds with cell (5, 5) missing and cell (1, 1) at one seed."""
    url = f"sqlite:///{tmp_path}/p.db"
    axes = {"gamma_info": [0, 1, 5], "gamma_s": [0, 1, 5]}
    runs = [r for r in grid_runs(axes, [0, 1], lambda g, s: 80 + 2 * g["gamma_info"] - g["gamma_s"] + s)
            if (r[0]["gamma_info"], r[0]["gamma_s"]) != (5, 5) and (r[0]["gamma_info"], r[0]["gamma_s"], r[1]) != (1, 1, 1)]
    make_study(url, "part", runs, spec={"name": "part", "sampler": "grid", "seeds": [0, 1], "space": axes})
    return url


def test_importance_of_a_partial_grid_is_refused_unless_asked(partial_url, capsys):
    assert main(["importance", "part", "--storage", partial_url]) == 2
    assert capsys.readouterr().err == (
        "tipsd importance: error: study 'part' lacks 1 of 9 grid cells (gamma_info=5 gamma_s=5): importances and "
        "main effects over a partial grid mix the weights' effects; finish it with tipsd run, or pass --partial "
        "to compute them over the cells it has\n")
    assert main(["importance", "part", "--storage", partial_url, "--partial"]) == 0
    out, err = capsys.readouterr()
    assert err == ("tipsd importance: warning: partial grid: 1 of 9 grid cells (gamma_info=5 gamma_s=5) have no "
                   "finished run; the numbers mix the weights' effects\n")
    assert "Note: Runs per cell: 2 (7 cells), 1 (1 cell), 0 (1 cell).\n" in out
    assert "Note: Partial grid: 1 of 9 grid cells (gamma_info=5 gamma_s=5) have no finished run" in out
    assert "Note: Cells have unequal numbers of runs: a weight value's mean weighs each cell by its runs." in out
    # γ_info = 5: cells (5, 0) and (5, 1) only, two seeds each: 90, 91, 89, 90 -> 90
    assert "| γ_info | 5 | 90.00 | 0.82 | 4 |" in out


def test_importance_of_a_complete_grid_with_unequal_seeds_warns_with_n_per_cell(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/u.db"
    runs = grid_runs({"gamma_s": [0, 1]}, [0, 1], lambda g, s: 80 + g["gamma_s"] + s)[:3]  # (1, seed 1) not run
    make_study(url, "u", runs, spec={"name": "u", "seeds": [0, 1], "space": {"gamma_s": [0, 1]}})
    assert main(["importance", "u", "--storage", url, "--format", "csv"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == ["note: Runs per cell: 2 (1 cell), 1 (1 cell).",
                   "note: Cells have unequal numbers of runs: a weight value's mean weighs each cell by its runs."]


def test_dashboard_note_of_a_sampled_study_ranks_its_settings(sampled_url):
    """optuna-dashboard's note of a Bayesian study shows what `tipsd table` shows: the ranked settings."""
    import optuna

    from tipsd.sweep.dashboard import summary_markdown

    md = summary_markdown(optuna.storages.get_storage(sampled_url), "bay")
    assert "| 1 | 3 | 0.2 | 90.5 | 0.7 | 2 | [84.1, 96.9] | – |" in md
    assert "The 3 settings the tpe sampler proposed" in md and "Missing" not in md
    assert "Signal: ANOVA over 3 cells blocked by 2 seeds F(2, 2) = 91" in md
