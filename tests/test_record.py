"""The record schema (tipsd.model.record): one torch-free module for the names, the keys and the
flattening of a run into trial attributes, used by the writer (sweep) and the readers (analysis)."""
from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
from types import SimpleNamespace

import optuna

from test_sweep_support import fake_train, grid_study
from tipsd.model import record
from tipsd.model.record import DEFAULT_STORAGE, cell_key, job_key, result_attrs, sqlite_path, stored_float


def test_record_imports_neither_torch_nor_numpy():
    code = "import sys, tipsd.model.record; print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_names_and_keys():
    assert record.METRIC_NAMES == ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total", "oks_ap")
    assert record.LOSS_NAMES == ("L_loc", "L_s", "L_com", "L_var", "L_red", "total")
    gammas = {"gamma_s": 0.1, "gamma_info": 1.0, "gamma_com": 0.0, "gamma_var": 5, "gamma_red": 0.3183}
    assert cell_key(gammas) == "gamma_info=1|gamma_s=0.1|gamma_com=0|gamma_var=5|gamma_red=0.3183"
    assert job_key(cell_key(gammas), 3) == cell_key(gammas) + "|seed=3"


def test_non_finite_numbers_are_stored_as_null_and_read_back_as_nan():
    result = SimpleNamespace(metrics={"Total": 50.0, "Head": math.nan}, joint_ap={"nose": math.inf},
                             losses={"total": 1.0}, duration_s=1, frames_per_s=2, peak_mem_mb=3, device="cpu")
    attrs = result_attrs(result)
    assert attrs["metric.Total"] == 50.0 and attrs["metric.Head"] is None and attrs["joint.nose"] is None
    assert attrs["duration_s"] == 1.0 and attrs["device"] == "cpu"
    assert math.isnan(stored_float(None)) and math.isnan(stored_float("nan"))  # "nan": tipsd 0.1's text


def test_storage_url_helpers():
    assert DEFAULT_STORAGE == "sqlite:///tipsd.db"
    assert sqlite_path(DEFAULT_STORAGE) == "tipsd.db" and sqlite_path("sqlite:///a/b.db") == "a/b.db"
    assert sqlite_path("sqlite:///:memory:") is None and sqlite_path("postgresql://h/db") is None


def nan_head_train(config, **kwargs):
    """`fake_train` whose Head mAP is NaN (no labelled head joint in the val split)."""
    result = fake_train(config, **kwargs)
    result.metrics["Head"] = math.nan
    result.joint_ap["head_top"] = math.nan
    return result


def test_nan_metric_keeps_its_column_float(tmp_path):
    from tipsd.analysis.runs import load_runs
    from tipsd.sweep.runner import run_study
    from tipsd.sweep.spec import load_spec

    url = f"sqlite:///{tmp_path}/t.db"
    run_study(load_spec(grid_study(tmp_path, seeds=(0,))), url, train_fn=nan_head_train, progress=False)
    trial = optuna.load_study(study_name="g", storage=url).trials[0]
    assert trial.user_attrs["metric.Head"] is None and trial.user_attrs["metric.Total"] > 0
    for method in ("sql", "optuna"):
        runs = load_runs(url, "g", method=method)
        assert len(runs) == 4
        assert runs["metric.Head"].dtype == float and runs["metric.Head"].isna().all()
        assert runs["joint.head_top"].dtype == float and runs["metric.Total"].dtype == float


def test_text_nan_of_older_studies_reads_as_float(tmp_path):
    from tipsd.analysis.demo_study import make_study
    from tipsd.analysis.runs import load_runs

    url = f"sqlite:///{tmp_path}/old.db"
    make_study(url, "old", [({"gamma_s": 0.1}, 0, 80.0), ({"gamma_s": 1.0}, 0, 81.0)])
    with sqlite3.connect(tmp_path / "old.db") as con:  # as tipsd 0.1 stored a NaN: the text "nan"
        con.execute("""UPDATE trial_user_attributes SET value_json = '"nan"' WHERE key = 'metric.Head'
                       AND trial_id = (SELECT MIN(trial_id) FROM trials)""")
    for method in ("sql", "optuna"):
        runs = load_runs(url, "old", method=method)
        assert runs["metric.Head"].dtype == float
        assert math.isnan(runs["metric.Head"][0]) and runs["metric.Head"][1] == 81.0


def test_loss_balance_factors_are_recorded_beside_the_result():
    result = SimpleNamespace(metrics={"Total": 50.0}, joint_ap={}, losses={"total": 1.0}, duration_s=1,
                             frames_per_s=2, peak_mem_mb=3, device="cpu", loss_scales={"L_loc": 1.0, "L_com": 0.015})
    attrs = result_attrs(result)
    assert attrs["loss_scale.L_loc"] == 1.0 and attrs["loss_scale.L_com"] == 0.015
    assert not any(k.startswith("loss_scale.") for k in result_attrs(SimpleNamespace(**{
        **vars(result), "loss_scales": {}})))
