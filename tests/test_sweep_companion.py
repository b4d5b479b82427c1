"""The dashboard's companion study of cells: one trial per cell with the seed mean, kept current as
runs finish, checked against what is stored."""
from __future__ import annotations

import time

import optuna
import pytest
from optuna.trial import TrialState

from test_sweep_support import fake_train, grid_study
from tipsd.analysis.demo_study import make_trial
from tipsd.sweep.companion import COMPANION_OF, sync_companion
from tipsd.sweep.dashboard import annotate
from tipsd.sweep.runner import run_study
from tipsd.sweep.spec import load_spec
from tipsd.sweep.status import format_status, study_status


def _cells(url: str) -> dict:
    study = optuna.load_study(study_name="g.cells", storage=url)
    return {(t.params["gamma_info"], t.params["gamma_s"]): t for t in study.get_trials()}


def test_companion_holds_one_trial_per_cell_with_the_seed_mean(tmp_path):
    url = f"sqlite:///{tmp_path}/t.db"
    run_study(load_spec(grid_study(tmp_path, seeds=(0, 1, 2))), url, train_fn=fake_train, progress=False)
    runs = optuna.load_study(study_name="g", storage=url).get_trials(states=(TrialState.COMPLETE,))
    cells = _cells(url)
    assert sorted(cells) == [(0.0, 0.1), (0.0, 5.0), (1.0, 0.1), (1.0, 5.0)]
    for (info, s), trial in cells.items():
        values = sorted(t.value for t in runs if (t.user_attrs["gamma_info"], t.user_attrs["gamma_s"]) == (info, s))
        assert len(values) == 3
        assert trial.value == round(sum(values) / 3, 2)
        assert trial.user_attrs["n"] == 3 and trial.user_attrs["seeds"] == [0, 1, 2]
        # fake_train adds 0.01 per seed: values m - 0.01, m, m + 0.01 -> std 0.01
        assert trial.user_attrs["std"] == pytest.approx(0.01, abs=1e-3)
        assert trial.user_attrs["ci_low"] < trial.user_attrs["mean"] < trial.user_attrs["ci_high"]
    best = optuna.load_study(study_name="g.cells", storage=url).best_trial
    assert (best.params["gamma_info"], best.params["gamma_s"]) == (1.0, 0.1)
    comp = optuna.load_study(study_name="g.cells", storage=url)
    assert comp.user_attrs[COMPANION_OF] == "g" and comp.metric_names == ["Total (seed mean)"]


def test_companion_is_updated_as_each_run_finishes(tmp_path):
    url = f"sqlite:///{tmp_path}/t.db"
    seen = []

    def held() -> int:
        names = optuna.get_all_study_names(url)
        return sum(t.user_attrs["n"] for t in _cells(url).values()) if "g.cells" in names else 0

    def train_and_look(config, **kw):  # before each run: the companion catches up with the runs before
        deadline = time.monotonic() + 30  # it is rebuilt from a thread of the run's parent
        while held() < len(seen) and time.monotonic() < deadline:
            time.sleep(0.05)
        seen.append(held())
        return fake_train(config, **kw)

    run_study(load_spec(grid_study(tmp_path, seeds=(0, 1))), url, train_fn=train_and_look, progress=False)
    assert seen == list(range(8))
    assert sum(t.user_attrs["n"] for t in _cells(url).values()) == 8


def test_sync_rewrites_only_when_cells_change_and_status_hides_the_companion(tmp_path):
    url = f"sqlite:///{tmp_path}/t.db"
    run_study(load_spec(grid_study(tmp_path, seeds=(0,))), url, train_fn=fake_train, progress=False)
    study = optuna.load_study(study_name="g", storage=url)
    assert sync_companion(url, study) is False  # already current
    gammas = {"gamma_info": 1.0, "gamma_s": 0.1, "gamma_com": 1.0, "gamma_var": 1.0, "gamma_red": 1.0}
    study.add_trial(make_trial(gammas, 7, 99.0, searched=[]))  # a run from another machine
    assert sync_companion(url, study) is True
    cell = _cells(url)[(1.0, 0.1)]
    assert cell.user_attrs["n"] == 2 and cell.user_attrs["seeds"] == [0, 7]
    text = format_status(study_status(optuna.storages.get_storage(url)), url)
    assert text.startswith("1 studies in") and "g.cells" not in text


def test_dashboard_notes_hold_the_table_and_the_signal_line(tmp_path):
    url = f"sqlite:///{tmp_path}/t.db"
    run_study(load_spec(grid_study(tmp_path, seeds=(0, 1))), url, train_fn=fake_train, progress=False)
    storage = optuna.storages.get_storage(url)
    assert annotate(storage) == 1
    for name in ("g", "g.cells"):
        note = _note(storage, name)
        assert "| γ_info \\ γ_s | 0.1 | 5 |" in note
        assert "Signal: ANOVA over 4 cells blocked by 2 seeds" in note
    assert "Study `g.cells` has one trial per cell" in _note(storage, "g")


def _note(storage, name: str) -> str:
    from optuna_dashboard._note import get_note_from_system_attrs

    study_id = storage.get_study_id_from_name(name)
    return get_note_from_system_attrs(storage.get_study_system_attrs(study_id), None)["body"]
