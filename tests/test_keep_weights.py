"""`[run] keep_weights`: which trials keep their weights as Optuna artifacts, on a 2x2 grid x 2 seeds
trained by the fake (its Total is known per cell and seed: seed 1 beats seed 0 by 0.01 everywhere)."""
from __future__ import annotations

import json

import optuna
import pytest
import torch

from tipsd.model.record import WEIGHTS_ARTIFACT
from tipsd.sweep.cli import main
from tipsd.sweep.keep_weights import kept_weights
from tipsd.sweep.runner import run_study
from tipsd.sweep.spec import load_spec
from tests.test_sweep_support import fake_train, grid_study


def fake_train_with_weights(config, **kw):
    """The fake, plus a one-tensor state dict holding its Total (so a kept file says whose it is)."""
    result = fake_train(config, **kw)
    result.weights = {"total": torch.tensor([result.metrics["Total"]], dtype=torch.float64)}
    result.config = {"seed": config.seed, "gamma_s": config.gamma_s}
    return result


def _run(tmp_path, policy: str | None):
    tmp_path.mkdir(parents=True, exist_ok=True)
    extra = "" if policy is None else f'[run]\nkeep_weights = "{policy}"\n'
    path = grid_study(tmp_path, "k", seeds=(0, 1))
    if extra:  # grid_study already writes a [run] table: add the key to it
        path.write_text(path.read_text().replace("[run]\n", extra, 1))
    url = f"sqlite:///{tmp_path}/k.db"
    run_study(load_spec(path), url, train_fn=fake_train_with_weights, progress=False, say=lambda line: None)
    study = optuna.load_study(study_name="k", storage=url)
    return study, tmp_path / "k-artifacts", url


def _files(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_best_per_cell_keeps_one_file_per_cell_the_best_seeds(tmp_path):
    study, folder, _ = _run(tmp_path, None)  # the tiny preset's default
    trials = study.get_trials()
    store = optuna.artifacts.FileSystemArtifactStore(str(folder))
    kept = kept_weights(trials, store, "maximize")
    assert len(kept) == 4 and len(_files(folder)) == 4
    for cell, trial in kept.items():
        seeds = {t.user_attrs["seed"]: t.value for t in trials if t.user_attrs["cell"] == cell}
        assert trial.user_attrs["seed"] == 1 and trial.value == max(seeds.values())
        state = torch.load(folder / trial.user_attrs[WEIGHTS_ARTIFACT], weights_only=True)
        assert state["format"] == 1 and state["config"]["seed"] == 1
        assert state["model"]["total"].item() == pytest.approx(trial.value)


def test_all_keeps_every_run_and_none_keeps_nothing(tmp_path):
    study, folder, _ = _run(tmp_path / "a", "all")
    assert len(_files(folder)) == 8
    assert all(WEIGHTS_ARTIFACT in t.user_attrs for t in study.get_trials())
    study, folder, _ = _run(tmp_path / "n", "none")
    assert _files(folder) == [] and not any(WEIGHTS_ARTIFACT in t.user_attrs for t in study.get_trials())


def test_a_deleted_weights_file_is_one_line_naming_trial_and_folder(tmp_path, capsys):
    study, folder, url = _run(tmp_path, "best-per-cell")
    store = optuna.artifacts.FileSystemArtifactStore(str(folder))
    trial = next(t for t in kept_weights(study.get_trials(), store, "maximize").values()
                 if t.user_attrs["gamma_info"] == 1 and t.user_attrs["gamma_s"] == 0.1)
    (folder / trial.user_attrs[WEIGHTS_ARTIFACT]).unlink()
    code = main(["viz", "interim", "k", "--storage", url, "--cells", "gamma_info=1,gamma_s=0.1",
                 "-o", str(tmp_path / "f.png")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert f"trial {trial.number} ({trial.user_attrs[WEIGHTS_ARTIFACT]})" in err[0]
    assert "missing from" in err[0] and str(folder) in err[0] and "γ_info=1, γ_s=0.1" in err[0]
    assert not (tmp_path / "f.png").exists()


def test_viz_usage_errors_are_one_line(tmp_path, capsys):
    cases = [
        (["viz", "results", "-o", "f.png"], "give a STUDY"),
        (["viz", "results", "s", "--checkpoint", "d", "-o", "f.png"], "--checkpoint draws tipsd train runs"),
        (["viz", "interim", "s", "-o", "f.svg"], "name a .png or .pdf file"),
        (["viz", "interim", "s", "--clips", "0", "-o", "f.png"], "'0' is not an integer >= 1"),
        (["viz", "interim", "--checkpoint", str(tmp_path), "-o", "f.png"], "the folder holds no checkpoint.pt"),
    ]
    for argv, words in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], (argv, err)


def test_unknown_or_ambiguous_cells_are_named(tmp_path, capsys):
    _, _, url = _run(tmp_path, "best-per-cell")
    for cells, words in ((["--cells", "gamma_info=0"], "matches 2 cells of study 'k'; add gamma_s"),
                         (["--cells", "gamma_info=3,gamma_s=0.1"], "has no finished run with these weights; "
                          "did you mean gamma_info=1,gamma_s=0.1?"),
                         (["--cells", "gama_s=1"], "argument --cells: 'gama_s' is not a loss weight; did you mean gamma_s?")):
        assert main(["viz", "results", "k", "--storage", url, *cells, "-o", str(tmp_path / "f.png")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err


def test_report_without_kept_weights_says_why_and_draws_no_figure(tmp_path, capsys):
    _, _, url = _run(tmp_path, "none")
    assert main(["report", "k", "--storage", url, "-o", str(tmp_path / "rep")]) == 0
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "## The paper's figures" in text
    assert "not drawn" in text and "keep_weights = 'none'" in text
    assert not (tmp_path / "rep" / "fig1_interim.png").exists()
    study = optuna.load_study(study_name="k", storage=url)
    attrs = study._storage.get_study_system_attrs(study._study_id)
    names = [json.loads(v)["filename"] for k, v in attrs.items() if k.startswith("artifacts:")]
    assert "fig1_interim.png" not in names


def test_report_after_the_kept_weights_were_deleted_removes_stale_figures_and_says_why(tmp_path, capsys):
    """A report drew Fig. 1/2; the weights are deleted; the next report names the missing file in the
    report and in one stderr line, deletes the old figure files, and exits 1 only under --figures."""
    import shutil

    _, folder, url = _run(tmp_path, "best-per-cell")
    rep = tmp_path / "rep"
    rep.mkdir()
    for name in ("fig1_interim.png", "fig1_interim.pdf", "fig2_results.png", "fig2_results.pdf"):
        (rep / name).write_bytes(b"an earlier report's figure")  # as a report with weights leaves them
    shutil.rmtree(folder)
    argv = ["report", "k", "--storage", url, "-o", str(rep), "--no-upload"]
    assert main(argv) == 0
    err = capsys.readouterr().err.splitlines()
    assert sorted(p.name for p in rep.iterdir()) == ["heatmap.pdf", "heatmap.png", "main_effects.png",
                                                    "report.html", "report.md"]
    assert err[1] == (f"removed fig1_interim.png, fig1_interim.pdf, fig2_results.png, fig2_results.pdf of an "
                      f"earlier report from {rep} (this report did not draw them)")
    note = [line for line in err if line.startswith("tipsd report: note: Fig. 1 and Fig. 2 are not drawn: cell ")]
    assert len(note) == 1 and f"its weights file is missing from {folder}: trial " in note[0]
    assert note[0].endswith("(the report says so; --no-figures silences this)")
    text = (rep / "report.md").read_text()
    assert "Note: Fig. 1 and Fig. 2 are not drawn: cell " in text and f"missing from {folder}" in text
    # asked for by name: the same report, exit code 1, the reason as an error line
    assert main(argv + ["--figures"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("tipsd report: error: Fig. 1 and Fig. 2 are not drawn: cell ")
    assert (rep / "report.md").exists()
    assert main(argv + ["--figures", "--no-figures"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_viz_checkpoint_path_that_does_not_exist_is_named(tmp_path, capsys):
    missing = tmp_path / "nope"
    assert main(["viz", "interim", "--checkpoint", str(missing), "-o", str(tmp_path / "f.png")]) == 2
    assert capsys.readouterr().err == (f"tipsd viz: error: --checkpoint {missing}: the path does not exist; give "
                                       "the folder of tipsd train --checkpoint-dir DIR\n")
    assert main(["viz", "interim", "--checkpoint", str(tmp_path), "-o", str(tmp_path / "f.png")]) == 2
    assert capsys.readouterr().err == (f"tipsd viz: error: --checkpoint {tmp_path}: the folder holds no "
                                       "checkpoint.pt; give the folder of tipsd train --checkpoint-dir DIR "
                                       "(written at the end of each epoch)\n")


def test_viz_on_a_study_that_kept_no_weights_says_what_to_do(tmp_path, capsys):
    _, _, url = _run(tmp_path, "none")
    assert main(["viz", "results", "k", "--storage", url, "-o", str(tmp_path / "f.png")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "no run of it kept its weights ([run] keep_weights = 'none'" in err[0]
    assert err[0].endswith("with [run] keep_weights = 'best-per-cell', or train the cell with tipsd train "
                           "--checkpoint-dir DIR and draw it with --checkpoint DIR")
