"""The analysis subcommands, in-process: outputs, files, artifacts, and one-line errors (exit 2)."""
from __future__ import annotations

import optuna
import pytest

from tipsd.analysis.demo_study import grid_runs, make_study
from tipsd.analysis.paper import paper_runs
from tipsd.sweep.cli import build_parser, main

COMMANDS = ("table", "paper", "compare", "heatmap", "report", "export", "importance")


@pytest.fixture
def table1_url(tmp_path):
    """Table I stored as a study (one seed), plus two FAIL / RUNNING / PRUNED trials and one missing cell."""
    url = f"sqlite:///{tmp_path}/tipsd.db"
    runs = [({"gamma_info": r["gamma_info"], "gamma_s": r["gamma_s"]}, 0, r["value"])
            for r in paper_runs("table1").to_dict("records") if (r["gamma_info"], r["gamma_s"]) != (5.0, 5.0)]
    runs += [({"gamma_info": 5.0, "gamma_s": 5.0}, 0, None)] * 3
    make_study(url, "table1", runs, states={15: "FAIL", 16: "RUNNING", 17: "PRUNED"})
    return url


def test_every_analysis_command_has_help_with_an_example():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in COMMANDS:
        assert "Example:\n  tipsd " + name in sub.choices[name].format_help()


def test_table_on_a_stored_study(table1_url, capsys):
    assert main(["table", "table1", "--storage", table1_url]) == 0
    out = capsys.readouterr().out
    assert "| 1 | 85.6 | **86.2** | 85.8 | 85.5 |\n| 5 | 85.5 | 85.8 | 85.7 | – |\n" in out
    assert out.endswith("Missing cells (–): 1 of 16.\n\nSignal cannot be assessed without replicates: every one "
                        "of the 15 cells has a single seed (15 runs); run two or more seeds per cell.\n")
    assert main(["table", "table1", "--storage", table1_url, "--format", "latex", "--rows", "gamma_s",
                 "--cols", "gamma_info"]) == 0
    assert "0.1 & 83.5 & 85.9 & \\textbf{86.2} & 85.8 \\\\" in capsys.readouterr().out
    assert main(["table", "table1", "--storage", table1_url, "--joints", "gamma_info=1,gamma_s=0.1"]) == 0
    assert "| γ_info=1, γ_s=0.1 | 86.2 | 86.2 | 86.2 | 86.2 | 86.2 | 86.2 | 86.2 | 86.2 | 1 |" in capsys.readouterr().out


def test_compare_reports_rho_best_cells_and_claims(table1_url, capsys):
    assert main(["compare", "table1", "--storage", table1_url, "--paper", "table1", "--baseline", "77.3"]) == 0
    out = capsys.readouterr().out
    assert "- Shared cells: 15 of 16 published (15 cells in the study)\n" in out
    assert "- Spearman rank correlation ρ: 1.000" in out
    assert "- Best shared cell, reproduction: γ_info=1, γ_s=0.1 (86.20)\n" in out
    assert "| 1 | Every setting beats the HRNet baseline (77.3). | holds | holds |" in out
    assert "| 4 | In Table II, the γ_com=0 column is flat whatever γ_var and γ_red. | not applicable |" in out
    # the study holds the paper's own values: every effect (cell minus γ_info=0, γ_s=0) agrees
    assert "| 1 | 0.1 | 86.2 | +3.2 | 86.20 | +3.20 | 1 |" in out
    assert "- Effects, Spearman ρ: 1.000 (p = 0); same sign: 14 of 14 cells\n" in out


def test_heatmap_report_and_artifacts(table1_url, tmp_path, capsys):
    assert main(["heatmap", "table1", "--storage", table1_url, "-o", str(tmp_path / "h.pdf")]) == 0
    assert (tmp_path / "h.pdf").stat().st_size > 1000
    out = tmp_path / "rep"
    assert main(["report", "table1", "--storage", table1_url, "-o", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "- Trials per state: COMPLETE 15, FAIL 1, PRUNED 1, RUNNING 1\n" in md
    assert "- Failed (1): training diverged at step 3: loss term L_com is nan\n" in md
    for section in ("## Table", "## Cells", "## Importance", "## Main effects", "## Interactions",
                    "## Per-joint AP of the best cell", "## Comparison with the paper", "## Study spec"):
        assert section in md
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and '<img alt="heatmap" src="heatmap.png">' in html
    study = optuna.load_study(study_name="table1", storage=table1_url)
    metas = optuna.artifacts.get_all_artifact_meta(study)
    assert sorted(m.filename for m in metas) == ["heatmap.png", "main_effects.png"]
    assert len(list((tmp_path / "tipsd-artifacts").iterdir())) == 2


def test_report_on_a_study_with_many_varying_weights(tmp_path):
    url = f"sqlite:///{tmp_path}/r.db"
    runs = grid_runs({"gamma_info": [0, 1], "gamma_s": [0, 1], "gamma_com": [0, 1], "gamma_var": [0, 1]}, [0, 1],
                     lambda g, s: 80 + sum(g.values()) + 0.1 * s)
    make_study(url, "bayes", runs)
    assert main(["report", "bayes", "--storage", url, "-o", str(tmp_path / "rep"), "--no-upload"]) == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "No paper-layout table: 4 weights vary in the study" in md
    assert "## Comparison with the paper" not in md


def test_report_says_how_many_bootstrap_replicates_it_drew(tmp_path):
    from tipsd.analysis.report import write_report

    url = f"sqlite:///{tmp_path}/r.db"
    make_study(url, "s", grid_runs({"gamma_s": [0, 1]}, [0, 1], lambda g, s: 80 + g["gamma_s"] + 0.1 * s))
    rep = write_report(url, "s", tmp_path / "rep", upload=False, n_boot=300)
    assert "bootstrap over seeds (300 replicates, seed 0)" in rep.markdown.read_text()


def test_export_csv_and_parquet(table1_url, tmp_path, capsys):
    assert main(["export", "table1", "--storage", table1_url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("study,number,state,gamma_info,gamma_s,gamma_com,gamma_var,gamma_red,seed,value,")
    assert len(lines) == 1 + 15
    assert main(["export", "table1", "--storage", table1_url, "--all-states", "-o", str(tmp_path / "a.csv")]) == 0
    assert len((tmp_path / "a.csv").read_text().splitlines()) == 1 + 18
    capsys.readouterr()
    code = main(["export", "table1", "--storage", table1_url, "--format", "parquet", "-o", str(tmp_path / "a.parquet")])
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        assert code == 2
        assert capsys.readouterr().err == "tipsd export: error: writing parquet needs pyarrow: pip install pyarrow\n"
    else:
        assert code == 0 and (tmp_path / "a.parquet").exists()


def test_importance_command(table1_url, capsys):
    assert main(["importance", "table1", "--storage", table1_url]) == 0
    out = capsys.readouterr().out
    for w in ("γ_info", "γ_s", "γ_com", "γ_var", "γ_red"):
        assert f"| {w} |" in out


@pytest.mark.parametrize("argv, message", [
    (["table", "tabel1"], "tipsd table: error: study 'tabel1' not found in {url}; studies there: empty, table1\n"),
    (["table", "table1", "--where", "gamma_x=1"],
     "tipsd table: error: argument --where: 'gamma_x' is not a loss weight; did you mean gamma_s? "
     "(see 'tipsd table --help')\n"),
    (["table", "table1", "--where", "xyz=1"],
     "tipsd table: error: argument --where: 'xyz' is not a loss weight; expected one of: gamma_info, gamma_s, "
     "gamma_com, gamma_var, gamma_red (see 'tipsd table --help')\n"),
    (["heatmap", "table1", "-o", "h.png", "--rows", "gama_info"],
     "tipsd heatmap: error: argument --rows: 'gama_info' is not a loss weight; did you mean gamma_info? "
     "(see 'tipsd heatmap --help')\n"),
    (["table", "table1", "--joints", "gamma_info=1,gamma_s=0.2"],
     "tipsd table: error: no run has gamma_s=0.2; did you mean gamma_s=0.1? (its values: 0, 0.1, 1, 5)\n"),
    (["importance", "table1", "--metric", "Totl"], "tipsd importance: error: metric 'Totl' not in the study; "
                                                   "did you mean Total?\n"),
    (["table", "table1", "--metric", "zzz"],
     "tipsd table: error: metric 'zzz' not in the study; expected one of: value, Ankle, Elbow, Head, Hip, Knee, "
     "Shoulder, Total, Wrist, oks_ap, L_com, L_loc, L_red, L_s, L_var, total\n"),
    (["heatmap", "empty", "-o", "h.png"],
     "tipsd heatmap: error: study 'empty' has no finished (COMPLETE) run; it holds 1 FAIL\n"),
    (["table", "table1", "-o", "/nonexistent-dir/t.md"],
     "tipsd table: error: cannot write '/nonexistent-dir/t.md': No such file or directory\n"),
    (["report", "table1", "-o", "/proc/tipsd-report"], "tipsd report: error: cannot write to '/proc/tipsd-report':"),
    (["compare", "table1", "--paper", "table3"], "tipsd compare: error: argument --paper: invalid choice: 'table3'"),
    (["table", "table1", "--decimals", "-1"], "tipsd table: error: argument --decimals: '-1' is not an integer >= 0"),
    (["heatmap", "table1", "-o", "h.png", "--decimals", "x"],
     "tipsd heatmap: error: argument --decimals: 'x' is not an integer >= 0"),
])
def test_bad_input_is_one_line_and_exit_code_2(table1_url, capsys, argv, message):
    make_study(table1_url, "empty", [({"gamma_s": 1.0}, 0, None)], states={0: "FAIL"})
    assert main(argv[:2] + ["--storage", table1_url] + argv[2:] if argv[0] != "paper" else argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message.format(url=table1_url)) and err.count("\n") == 1


def test_a_companion_study_of_cell_means_is_refused_naming_its_study(tmp_path, capsys):
    """NAME.cells (`tipsd.sweep.companion`) holds one seed mean per cell: every analysis command refuses
    it in one line that names NAME, instead of showing its means as single-seed runs."""
    from tipsd.sweep.companion import sync_companion

    url = f"sqlite:///{tmp_path}/c.db"
    study = make_study(url, "t", grid_runs({"gamma_s": [0, 1]}, [0, 1], lambda g, s: 80 + g["gamma_s"] + s))
    assert sync_companion(url, study)
    for argv in (["table"], ["compare", "--paper", "table1"], ["heatmap", "-o", str(tmp_path / "h.png")],
                 ["report", "-o", str(tmp_path / "rep")], ["export"], ["importance"],
                 ["viz", "results", "-o", str(tmp_path / "f.png")]):
        cmd = argv[:2] if argv[0] == "viz" else argv[:1]
        assert main([*cmd, "t.cells", "--storage", url, *argv[len(cmd):]]) == 2, argv
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.endswith(
            "error: study 't.cells' is the dashboard's companion of study 't' (one trial per cell holding the "
            "seed mean), not runs to analyse; use study 't' instead, e.g. tipsd table t\n"), argv
        assert captured.err.count("\n") == 1
    assert not (tmp_path / "h.png").exists() and not (tmp_path / "rep").exists()


def test_compare_refuses_a_study_without_any_of_the_papers_cells(tmp_path, capsys):
    """A study whose settings are none of the paper's (a Bayesian study's continuous weights) gets one
    line saying so instead of a comparison of zero cells."""
    url = f"sqlite:///{tmp_path}/b.db"
    make_study(url, "b", grid_runs({"gamma_info": [0.3, 0.7], "gamma_s": [0.2]}, [0, 1],
                                   lambda g, s: 50 + g["gamma_info"] + s))
    assert main(["compare", "b", "--storage", url, "--paper", "table2"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert "error: study 'b' has none of the 64 cells of the paper's table2 (γ_com × γ_var × γ_red over 0, 0.1, " \
           "1, 5 with γ_info=1, γ_s=0.1); nothing to compare: run those cells (studies/table2.toml)" in captured.err
