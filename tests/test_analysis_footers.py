"""What tables, heatmaps, comparisons and reports say under their numbers: a partial study's
progress (axes from the spec, missing runs named) and the signal statistics of `analysis.signal`."""
from __future__ import annotations

import optuna
import pandas as pd
import pytest

from tipsd.analysis.demo_study import grid_runs, make_study
from tipsd.analysis.footers import Plan, progress_line, study_plan
from tipsd.analysis.heatmap import _heatmap_data
from tipsd.analysis.runs import load_runs
from tipsd.analysis.tables import build_table
from tipsd.sweep.cli import main

# cells gamma_info = 0: 1, 3, 5 and gamma_info = 1: 4, 5, 9 over seeds 0, 1, 2 (analysis.signal's
# hand example): blocked ANOVA SS cell 13.5, seed 21, residual 1 on 2 df -> F(1, 2) = 27, p = 0.035
HAND = {(0.0, 0): 1.0, (0.0, 1): 3.0, (0.0, 2): 5.0, (1.0, 0): 4.0, (1.0, 1): 5.0, (1.0, 2): 9.0}
HAND_FOOTER = ("Signal: ANOVA over 2 cells blocked by 3 seeds F(1, 2) = 27, p = 0.035; ICC 0.33 (33 % of a "
               "run's variance is due to the weights, 67 % to the seed); median seed std 2.32; smallest "
               "detectable paired difference 3.26 (α 0.05, power 0.8, 3 seeds); seeds to separate best from "
               "runner-up: 4.")
TABLE2_SPEC = {"name": "t2", "sampler": "grid", "seeds": [0, 1],
               "space": {"gamma_red": [0, 0.1, 1, 5], "gamma_var": [0, 0.1, 1, 5], "gamma_com": [0, 0.1, 1, 5]},
               "fixed": {"gamma_info": 1, "gamma_s": 0.1}}


@pytest.fixture
def hand_url(tmp_path):
    url = f"sqlite:///{tmp_path}/h.db"
    spec = {"name": "hand", "sampler": "grid", "seeds": [0, 1, 2], "space": {"gamma_info": [0, 1]}}
    make_study(url, "hand", [({"gamma_info": g}, s, v) for (g, s), v in HAND.items()], spec=spec)
    return url


@pytest.fixture
def partial_url(tmp_path):
    """Table II's spec (64 cells x 2 seeds) with 2 runs finished: γ_com varies, γ_var and γ_red do not yet."""
    url = f"sqlite:///{tmp_path}/p.db"
    runs = [({"gamma_info": 1, "gamma_s": 0.1, "gamma_red": 0, "gamma_var": 0, "gamma_com": c}, 0, 80 + c)
            for c in (0.0, 1.0)]
    make_study(url, "t2", runs, spec=TABLE2_SPEC)
    return url


def test_table_footer_is_the_signal_line(hand_url, capsys):
    assert main(["table", "hand", "--storage", hand_url]) == 0
    out = capsys.readouterr().out
    assert out.endswith("\n\n" + HAND_FOOTER + "\n")
    assert main(["table", "hand", "--storage", hand_url, "--format", "latex"]) == 0
    assert capsys.readouterr().out.endswith("\n% " + HAND_FOOTER + "\n")
    assert main(["table", "hand", "--storage", hand_url, "--format", "csv"]) == 0
    captured = capsys.readouterr()
    assert "Signal" not in captured.out and captured.err.strip() == HAND_FOOTER


def test_table_says_when_cells_are_not_distinguishable_from_seed_noise(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/n.db"
    # two cells that swap values between seeds: no cell effect at all (SS cells = 0)
    make_study(url, "noise", [({"gamma_info": 0}, 0, 1.0), ({"gamma_info": 0}, 1, 3.0),
                              ({"gamma_info": 1}, 0, 3.0), ({"gamma_info": 1}, 1, 1.0)])
    assert main(["table", "noise", "--storage", url]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("Not distinguishable from seed noise: ANOVA over 2 cells blocked by 2 seeds F(1, 1) = 0, "
                           "p = 1.00;")


def test_compare_and_report_have_a_signal_section(hand_url, tmp_path, capsys):
    assert main(["compare", "hand", "--storage", hand_url, "--paper", "table1"]) == 0
    out = capsys.readouterr().out
    assert "## Signal vs seed noise\n\n| figure | value |" in out
    assert "| ANOVA over cells, blocked by seed (3 seeds every cell has) | F(1, 2) = 27, p = 0.035 |" in out
    assert main(["report", "hand", "--storage", hand_url, "-o", str(tmp_path / "rep"), "--no-upload"]) == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| one-way ANOVA over cells | F(1, 4) = 2.45, p = 0.19 |" in md  # MSB 13.5 / MSW 5.5
    assert md.index("## Signal vs seed noise") < md.index("## Cells")
    assert "Partial study" not in md


def test_study_plan_reads_grid_seeds_and_racing_ranges():
    plan = study_plan({"tipsd.spec": TABLE2_SPEC})
    assert (plan.searched, plan.seeds, plan.total) == (["gamma_com", "gamma_var", "gamma_red"], 2, 128)
    assert plan.grid["gamma_var"] == [0.0, 0.1, 1.0, 5.0]
    racing = study_plan({"tipsd.spec": {**TABLE2_SPEC, "seeds": {"min": 2, "max": 5}}})
    assert racing.total == 320
    bayes = study_plan({"tipsd.spec": {"sampler": "tpe", "budget": 10, "seeds": [0],
                                       "space": {"gamma_s": {"low": 0.01, "high": 10}}}})
    assert (bayes.grid, bayes.searched, bayes.total) == ({}, ["gamma_s"], 10)
    assert study_plan({}) == Plan()


def test_progress_line_of_a_race_counts_its_plan_not_cells_times_max():
    plan = Plan(grid={"gamma_s": [0.0, 1.0]}, searched=["gamma_s"], seeds=4, total=8)
    race = pd.DataFrame({"gamma_s": [0.0, 1.0], "race_status": ["racing", "separated"], "race_n": [3, 2]})
    runs = pd.DataFrame({"gamma_s": [0.0, 0.0, 1.0, 1.0], "seed": [0, 1, 0, 1]})
    assert progress_line(plan, runs, race=race) == ("Partial study: 4 of 5 runs done (the race's plan now; 8 in the "
                                                    "full 4-seed grid); seeds per cell: 2 (2 cells).")
    more = pd.concat([runs, pd.DataFrame({"gamma_s": [0.0], "seed": [2]})])
    assert progress_line(plan, more, race=race) == ""  # the race is done at 5 of the full grid's 8
    assert progress_line(plan, more).startswith("Partial study: 5 of 8 runs done;")  # without the race


def test_progress_line_counts_cells_without_runs():
    plan = Plan(grid={"gamma_s": [0.0, 1.0, 5.0]}, searched=["gamma_s"], seeds=2, total=6)
    runs = pd.DataFrame({"gamma_s": [0.0, 0.0, 1.0], "seed": [0, 1, 0]})
    assert progress_line(plan, runs) == "Partial study: 3 of 6 runs done; seeds per cell: 2 (1 cell), 1 (1 cell), 0 (1 cell)."
    full = pd.DataFrame({"gamma_s": [0.0, 0.0, 1.0, 1.0, 5.0, 5.0], "seed": [0, 1] * 3})
    assert progress_line(plan, full) == ""


def test_partial_study_keeps_the_specs_axes_and_names_the_missing_runs(partial_url, tmp_path, capsys):
    assert main(["table", "t2", "--storage", partial_url]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| γ_var \\ γ_com | 0 | 0.1 | 1 | 5 |\n")
    assert "| γ_red = 0.1 |" in out and "| 5 | – | – | – | – |" in out
    assert "Missing cells (–): 62 of 64." in out
    assert "\nPartial study: 2 of 128 runs done; seeds per cell: 1 (2 cells), 0 (62 cells).\n" in out
    assert main(["report", "t2", "--storage", partial_url, "-o", str(tmp_path / "rep"), "--no-upload"]) == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    assert md.count("Partial study: 2 of 128 runs done") == 2  # the study section and under the table


def test_heatmap_caption_colour_bar_and_dagger_legend(partial_url):
    runs = load_runs(partial_url, "t2")
    table = build_table(runs, metric="value", grid=study_plan({"tipsd.spec": TABLE2_SPEC}).grid)
    data = _heatmap_data(table, title="Total", caption="Partial study: 2 of 128 runs done.")
    assert len(data.panels) == 4 and data.panels[0].shape == (4, 4)
    assert data.cbar_label == "Total (%)"
    assert data.caption == ["Red outline: best cell.", "Partial study: 2 of 128 runs done."]
    seeds = grid_runs({"gamma_info": [0, 1]}, [0, 1, 2], lambda g, s: 80 + g["gamma_info"] * (0.01 + 0.5 * (s == 1)) + s % 2)
    close = build_table(pd.DataFrame([{**g, "seed": s, "value": v} for g, s, v in seeds])
                        .assign(gamma_s=0.1, gamma_com=1.0, gamma_var=1.0, gamma_red=1.0))
    legend = _heatmap_data(close).caption[0]
    from tipsd.analysis.tables import TEST_NOTE

    assert legend.startswith(f"Red outline: best cell. †: not distinguishable from the best ({TEST_NOTE}")
    loss = build_table(runs.assign(**{"loss.L_com": 0.5}), metric="loss.L_com", higher_is_better=False)
    assert _heatmap_data(loss).cbar_label == "loss.L_com"


def test_report_run_twice_keeps_one_artifact_per_figure(hand_url, tmp_path):
    for _ in range(2):
        assert main(["report", "hand", "--storage", hand_url, "-o", str(tmp_path / "rep")]) == 0
    metas = optuna.artifacts.get_all_artifact_meta(optuna.load_study(study_name="hand", storage=hand_url))
    assert sorted(m.filename for m in metas) == ["heatmap.png", "main_effects.png"]
    stored = sorted((tmp_path / "h-artifacts").iterdir())
    assert len(stored) == 2
    heat = next(m for m in metas if m.filename == "heatmap.png")
    assert (tmp_path / "h-artifacts" / heat.artifact_id).read_bytes() == (tmp_path / "rep" / "heatmap.png").read_bytes()


def test_report_uploads_again_a_figure_deleted_in_the_dashboard(hand_url, tmp_path):
    import json

    rep = ["report", "hand", "--storage", hand_url, "-o", str(tmp_path / "rep")]
    assert main(rep) == 0
    storage = optuna.storages.get_storage(hand_url)
    study_id = storage.get_study_id_from_name("hand")
    heat = next(k for k, v in storage.get_study_system_attrs(study_id).items()
                if k.startswith("artifacts:") and json.loads(v)["filename"] == "heatmap.png")
    storage.set_study_system_attr(study_id, heat, json.dumps(None))  # what the dashboard's delete leaves
    assert main(rep) == 0
    live = [json.loads(v)["filename"] for k, v in storage.get_study_system_attrs(study_id).items()
            if k.startswith("artifacts:") and json.loads(v) is not None]
    assert sorted(live) == ["heatmap.png", "main_effects.png"]


def test_missing_cell_note_names_every_weight_the_plan_varies(tmp_path, capsys):
    # Two runs of Table II's 64 cells: only γ_com differs between them, but a cell is named by all
    # three weights the spec varies (a fresh-user check found "cell gamma_info=1" for a 2-weight cell).
    url = f"sqlite:///{tmp_path}/m.db"
    runs = [({"gamma_info": 1, "gamma_s": 0.1, "gamma_red": 0, "gamma_var": 0, "gamma_com": c}, 0, 80 + c)
            for c in (0.0, 1.0)]
    make_study(url, "t2", runs, spec=TABLE2_SPEC, states={1: "FAIL"})
    assert main(["table", "t2", "--storage", url]) == 0
    err = capsys.readouterr().err
    assert "note: cell gamma_com=1 gamma_var=0 gamma_red=0 has no finished run: 1 FAIL" in err, err
