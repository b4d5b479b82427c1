"""Loading stored studies into the tidy frame, and seed aggregates (hand-computed)."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from tipsd.analysis.demo_study import grid_runs, make_study
from tipsd.analysis.runs import (
    AnalysisError,
    aggregate_cells,
    load_runs,
    metric_column,
    require_finished,
    study_names,
)


def build(tmp_path, name="s", runs=None, **kw):
    """A study in a fresh SQLite file; returns its URL."""
    url = f"sqlite:///{tmp_path}/x.db"
    if runs is None:
        runs = grid_runs({"gamma_info": [0, 1], "gamma_s": [0, 0.1]}, [0, 1],
                         lambda g, s: 80 + g["gamma_info"] + s)
    make_study(url, name, runs, **kw)
    return url


def test_frame_has_one_row_per_finished_run_with_schema_columns(tmp_path):
    url = build(tmp_path)
    runs = load_runs(url, "s")
    assert len(runs) == 8
    for col in ("gamma_info", "gamma_s", "gamma_com", "gamma_var", "gamma_red", "seed", "state",
                "value", "metric.Total", "metric.Head", "loss.L_com", "duration_s", "cell"):
        assert col in runs.columns
    assert set(runs["state"]) == {"COMPLETE"}
    first = runs.iloc[0]
    assert (first["gamma_info"], first["gamma_s"], first["gamma_com"], int(first["seed"])) == (0.0, 0.0, 1.0, 0)
    assert first["value"] == 80.0 and first["duration_s"] == 1.5


def test_sql_and_optuna_readers_give_the_same_frame(tmp_path):
    runs = [({"gamma_info": 0.0}, 0, 80.0), ({"gamma_info": 1.0}, 1, 81.5), ({"gamma_info": 5.0}, 0, None),
            ({"gamma_info": 5.0}, 1, None), ({"gamma_info": 0.1}, 2, 70.0)]
    url = build(tmp_path, runs=runs, states={2: "FAIL", 3: "RUNNING", 4: "PRUNED"})
    fast = load_runs(url, "s", all_states=True, method="sql")
    slow = load_runs(url, "s", all_states=True, method="optuna")
    pd.testing.assert_frame_equal(fast, slow)
    assert list(fast["state"]) == ["COMPLETE", "COMPLETE", "FAIL", "RUNNING", "PRUNED"]
    assert fast.loc[2, "fail_reason"].startswith("training diverged")
    assert len(load_runs(url, "s")) == 2


def test_sql_reader_reads_odd_attribute_values_as_optuna_does(tmp_path):
    """The SQLite reader concatenates each key's JSON values in SQL: values with commas, quotes,
    brackets, NaN, booleans, lists and a key missing from some trials must come back unchanged."""
    import json
    import sqlite3

    url = build(tmp_path)
    odd = {"note": 'a, "b" [c]', "flag": True, "shape": [1, 2], "nanv": float("nan"), 'k"ey,': -1e-300}
    with sqlite3.connect(tmp_path / "x.db") as con:  # finished trials: Optuna's API refuses new attributes
        ids = [row[0] for row in con.execute("SELECT trial_id FROM trials ORDER BY number LIMIT 3")]
        con.executemany("INSERT INTO trial_user_attributes (trial_id, key, value_json) VALUES (?, ?, ?)",
                        [(i, k, json.dumps(v)) for i in ids for k, v in odd.items()])
    fast = load_runs(url, "s", method="sql")
    slow = load_runs(url, "s", method="optuna")
    pd.testing.assert_frame_equal(fast, slow)
    assert fast.loc[0, "note"] == 'a, "b" [c]' and fast.loc[0, "shape"] == [1, 2] and fast.loc[0, "flag"] is True
    assert math.isnan(fast.loc[0, "nanv"]) and fast.loc[0, 'k"ey,'] == -1e-300
    assert fast["note"].isna().sum() == 5  # 3 of the 8 trials have the key


def test_several_studies_load_into_one_frame(tmp_path):
    url = build(tmp_path, name="a")
    make_study(url, "b", [({"gamma_s": 1.0}, 0, 90.0)])
    both = load_runs(url, ["a", "b"])
    assert both["study"].value_counts().to_dict() == {"a": 8, "b": 1}


def test_aggregate_mean_std_and_t_interval_by_hand():
    runs = pd.DataFrame({"gamma_info": [1.0, 1.0, 1.0, 0.0], "seed": [0, 1, 2, 0],
                         "value": [80.0, 82.0, 84.0, 70.0]})
    agg = aggregate_cells(runs, by=["gamma_info"]).set_index("gamma_info")
    one = agg.loc[1.0]
    assert one["mean"] == 82.0 and one["std"] == 2.0 and one["n"] == 3
    # t_{0.975, 2} = 4.302653; sem = 2 / sqrt(3)
    half = 4.302653 * 2.0 / math.sqrt(3)
    assert one["ci_low"] == pytest.approx(82.0 - half, abs=1e-5)
    assert one["ci_high"] == pytest.approx(82.0 + half, abs=1e-5)
    assert one["seeds"] == (0, 1, 2)
    single = agg.loc[0.0]
    assert single["n"] == 1 and math.isnan(single["std"]) and math.isnan(single["ci_low"])


def test_metric_names_map_to_columns():
    frame = pd.DataFrame(columns=["value", "metric.Total", "loss.L_com"])
    assert metric_column(frame, None) == "value"
    assert metric_column(frame, "Total") == "metric.Total"
    assert metric_column(frame, "L_com") == "loss.L_com"
    with pytest.raises(AnalysisError, match=r"^metric 'Nope' not in the study; expected one of: value, Total, L_com$"):
        metric_column(frame, "Nope")


def test_unknown_study_lists_the_stored_ones(tmp_path):
    url = build(tmp_path, name="table1")
    make_study(url, "table2", [({"gamma_s": 1.0}, 0, 90.0)])
    assert study_names(url) == ["table1", "table2"]
    with pytest.raises(AnalysisError) as err:
        load_runs(url, "tabel1")
    assert str(err.value) == f"study 'tabel1' not found in {url}; studies there: table1, table2"


def test_missing_sqlite_file_is_not_created(tmp_path):
    url = f"sqlite:///{tmp_path}/none.db"
    with pytest.raises(AnalysisError, match="does not exist"):
        load_runs(url, "s")
    assert not (tmp_path / "none.db").exists()


def test_study_without_finished_run_says_what_it_holds(tmp_path):
    url = build(tmp_path, runs=[({"gamma_s": 1.0}, 0, None), ({"gamma_s": 1.0}, 1, None)],
                states={0: "FAIL", 1: "RUNNING"})
    runs = load_runs(url, "s")
    assert len(runs) == 0
    with pytest.raises(AnalysisError) as err:
        require_finished(runs, "s", {"FAIL": 1, "RUNNING": 1})
    assert str(err.value) == "study 's' has no finished (COMPLETE) run; it holds 1 FAIL, 1 RUNNING"
