"""End to end with the real training core (`tiny` preset): `tipsd run` on studies/smoke.toml, a NaN
run, a worker killed with SIGKILL and restarted, two local workers, `tipsd status`, `tipsd dashboard`."""
from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from test_sweep_support import FAST_RUN, unlabelled_val_copy, write_study
from tipsd.sweep.cli import main

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "studies" / "smoke.toml"
SMOKE_JOBS = sorted(itertools.product([0.0, 1.0], [0.1, 1.0], [0, 1]))


def _trials(url, name):
    return optuna.load_study(study_name=name, storage=url).get_trials()


def _done(trials):
    return sorted((t.user_attrs["gamma_info"], t.user_attrs["gamma_s"], t.user_attrs["seed"])
                  for t in trials if t.state == TrialState.COMPLETE and "duplicate_of" not in t.user_attrs)


@pytest.fixture(scope="module")
def smoke_db(tmp_path_factory):
    """studies/smoke.toml run once through the CLI; shared by the status and dashboard tests."""
    folder = tmp_path_factory.mktemp("smoke")
    url = f"sqlite:///{folder}/tipsd.db"
    assert main(["run", str(SMOKE), "--storage", url, "--no-progress"]) == 0
    return url


def test_smoke_grid_covers_every_cell_and_seed_once(smoke_db):
    trials = _trials(smoke_db, "smoke")
    assert _done(trials) == SMOKE_JOBS and len(trials) == 8
    t = trials[0]
    assert t.user_attrs["preset"] == "tiny" and t.user_attrs["device"] == "cpu"
    assert len([k for k in t.user_attrs if k.startswith("joint.")]) == 15
    assert {k for k in t.user_attrs if k.startswith("loss.")} == {
        "loss.L_loc", "loss.L_s", "loss.L_com", "loss.L_var", "loss.L_red", "loss.total"}
    assert sorted(t.intermediate_values) == [0, 1]  # smoke: 2 epochs
    assert t.value == pytest.approx(t.user_attrs["metric.Total"])


def test_status_reports_counts_completion_and_best(smoke_db, capsys):
    assert main(["status", "--storage", smoke_db]) == 0
    out = capsys.readouterr().out
    assert "smoke (grid): COMPLETE 8" in out
    assert "runs: 8/8 done (100%), 0 running, 0 given up" in out
    assert "best cell Total (seed mean): " in out


def test_status_on_missing_database_is_one_line(tmp_path, capsys):
    assert main(["status", "--storage", f"sqlite:///{tmp_path}/none.db"]) == 2
    assert "no such database file" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


def test_nan_run_is_failed_trial_and_sweep_continues(tmp_path, capsys):
    path = write_study(tmp_path, "nan", f"""
name = "nan"
seeds = [0]
[space]
gamma_s = [0.1, 1]
[train]
preset = "tiny"
overrides = {{epochs = 1, max_train_samples = 16, max_val_samples = 16, debug_nan_term = "L_com", debug_nan_step = 1}}
{FAST_RUN}""")
    # Every run of this study diverges at step 1; each must end FAIL with its reason, none retried.
    url = f"sqlite:///{tmp_path}/t.db"
    assert main(["run", str(path), "--storage", url, "--no-progress"]) == 0
    trials = _trials(url, "nan")
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.FAIL]
    assert all(t.user_attrs["fail_reason"].startswith("training diverged at step 1: loss term L_com")
               for t in trials)
    assert "2/2 runs done, 0 given up" in capsys.readouterr().out


def test_two_local_workers_via_cli(tmp_path):
    url = f"sqlite:///{tmp_path}/t.db"
    assert main(["run", str(SMOKE), "--storage", url, "--workers", "2", "--no-progress"]) == 0
    trials = _trials(url, "smoke")
    assert _done(trials) == SMOKE_JOBS
    assert not [t for t in trials if t.state == TrialState.RUNNING]


def test_a_run_is_the_same_whatever_the_number_of_workers(tmp_path, monkeypatch):
    """Torch threads come from the config (1 in the CPU presets), never from --workers: the same
    (cell, seed) gives the same value run by one worker or by two (issue: 16.05 vs 15.37 before)."""
    import torch

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # no outside cap: the config alone decides
    monkeypatch.setattr(torch, "get_num_threads", torch.get_num_threads)
    torch.set_num_threads(max(2, os.cpu_count() or 2))
    values = {}
    for workers in (1, 2):
        url = f"sqlite:///{tmp_path}/w{workers}.db"
        assert main(["run", str(SMOKE), "--storage", url, "--workers", str(workers), "--no-progress"]) == 0
        trials = [t for t in _trials(url, "smoke") if t.state == TrialState.COMPLETE]
        values[workers] = {(t.user_attrs["cell"], t.user_attrs["seed"]): t.value for t in trials}
        assert {t.user_attrs.get("threads", 1) for t in trials} == {1}
    assert len(values[1]) == 8 and values[1] == values[2]


def test_killed_worker_then_restart_completes_every_cell_once(tmp_path):
    path = write_study(tmp_path, "kill", f"""
name = "kill"
seeds = [0, 1]
[space]
gamma_info = [0, 1]
[train]
preset = "tiny"
overrides = {{epochs = 2, max_train_samples = 32, max_val_samples = 16}}
{FAST_RUN}""")
    url = f"sqlite:///{tmp_path}/t.db"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "tipsd.sweep.cli", "run", str(path), "--storage", url,
                             "--no-progress"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # Kill it mid-trial: once one run is done and the next is RUNNING with a heartbeat.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(0.2)
            try:
                states = [t.state for t in _trials(url, "kill")]
            except Exception:  # study not created yet
                continue
            if TrialState.COMPLETE in states and states[-1] == TrialState.RUNNING:
                break
        else:
            pytest.fail("the worker never reached a second trial: " + proc.stderr.read().decode()[-500:])
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert TrialState.RUNNING in [t.state for t in _trials(url, "kill")]
    assert main(["run", str(path), "--storage", url, "--no-progress"]) == 0
    trials = _trials(url, "kill")
    assert _done(trials) == sorted(itertools.product([0.0, 1.0], [0.1], [0, 1]))  # gamma_s: preset default
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    # The killed trial was failed by the heartbeat check, and its job run again exactly once.
    assert len([t for t in trials if t.state == TrialState.FAIL]) == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def test_dashboard_serves_the_smoke_study(smoke_db, tmp_path):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tipsd.sweep.cli", "dashboard", "--storage", smoke_db,
                             "--port", str(port), "--artifact-dir", str(tmp_path / "art")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                summaries = _get(f"http://127.0.0.1:{port}/api/studies")["study_summaries"]
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("dashboard did not start")
                time.sleep(0.3)
        (smoke,) = [s for s in summaries if s["study_name"] == "smoke"]
        detail = _get(f"http://127.0.0.1:{port}/api/studies/{smoke['study_id']}?after=0")
        assert len(detail["trials"]) == 8
        attrs = {a["key"] for a in detail["trials"][0]["user_attrs"]}
        assert {"seed", "cell", "metric.Total", "loss.L_com", "gamma_info"} <= attrs
        assert detail["objective_names"] == ["Total"]
        assert detail["note"]["body"].startswith("Smoke test:")
        assert '"sampler": "grid"' in detail["note"]["body"]
        assert "Signal" in detail["note"]["body"] or "Not distinguishable" in detail["note"]["body"]
        (cells,) = [s for s in summaries if s["study_name"] == "smoke.cells"]  # one trial per cell
        cells_detail = _get(f"http://127.0.0.1:{port}/api/studies/{cells['study_id']}?after=0")
        assert len(cells_detail["trials"]) == 4
        assert cells_detail["objective_names"] == ["Total (seed mean)"]
        assert (tmp_path / "art").is_dir()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_runs_that_keep_failing_are_given_up_with_exit_1(tmp_path, capsys):
    empty = unlabelled_val_copy(tmp_path / "no-val-labels")  # passes every check, fails every training
    path = write_study(tmp_path, "broken", f"""
name = "broken"
seeds = [0]
[space]
gamma_s = [0.1]
[train]
preset = "tiny"
overrides = {{data = "{empty}"}}
[run]
heartbeat_s = 1
grace_s = 2
max_retries = 1
""")
    url = f"sqlite:///{tmp_path}/t.db"
    assert main(["run", str(path), "--storage", url, "--no-progress"]) == 1
    captured = capsys.readouterr()
    trials = _trials(url, "broken")
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.FAIL]  # first try + 1 retry
    # Every trial failed: the summary says so with the first reason, not only counts (fresh-user check).
    reason = f"DataError: {empty}: split 'val' has no labelled person on a labelled frame"
    assert trials[0].user_attrs["fail_reason"] == reason
    assert captured.out.splitlines()[-1].endswith(f"; all 2 trials failed (first: {reason})")
    job = trials[0].user_attrs["job"].replace("|", " ")
    assert captured.err == (f"tipsd run: error: all 1 runs failed 2 times and were given up (first: {job}: {reason}); "
                            f"see `tipsd status` and each trial's fail_reason, fix the cause, then "
                            f"`tipsd run {path} --retry-failed`\n")
    assert all(t.user_attrs["fail_reason"] and "\n" not in t.user_attrs["fail_reason"] for t in trials)
    assert main(["status", "--storage", url]) == 0
    assert "runs: 0/1 done (0%), 0 running, 1 given up" in capsys.readouterr().out
