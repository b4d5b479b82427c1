"""Two workers (separate processes, as on two machines) share one study through a real PostgreSQL
server. Runs when TIPSD_TEST_POSTGRES_URL is set (.ci/run starts PostgreSQL 15 and sets it)."""
from __future__ import annotations

import itertools
import os
import subprocess
import sys
import uuid

import optuna
import pytest
from optuna.trial import TrialState

from test_sweep_support import FAST_RUN, write_study

PG_URL = os.environ.get("TIPSD_TEST_POSTGRES_URL", "")
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="TIPSD_TEST_POSTGRES_URL is not set (no PostgreSQL server)"),
]


def test_two_workers_share_one_study_through_postgres(tmp_path):
    name = f"pg-{uuid.uuid4().hex[:8]}"  # a fresh study in a server that may outlive this test
    path = write_study(tmp_path, name, f"""
name = "{name}"
seeds = [0, 1]
[space]
gamma_info = [0, 1]
gamma_s = [0.1, 1]
[train]
preset = "tiny"
overrides = {{epochs = 1, max_train_samples = 16, max_val_samples = 16}}
{FAST_RUN}""")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "tipsd.sweep.cli", "run", str(path), "--storage", PG_URL, "--no-progress"]
    # Two independent `tipsd run` processes, started together, like two machines.
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(2)]
    outs = [p.communicate(timeout=300)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    trials = optuna.load_study(study_name=name, storage=PG_URL).get_trials()
    done = sorted((t.user_attrs["gamma_info"], t.user_attrs["gamma_s"], t.user_attrs["seed"])
                  for t in trials if t.state == TrialState.COMPLETE and "duplicate_of" not in t.user_attrs)
    assert done == sorted(itertools.product([0.0, 1.0], [0.1, 1.0], [0, 1]))
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert all("duplicate_of" in t.user_attrs for t in trials if t.state != TrialState.COMPLETE)
    # Both workers did part of the work.
    assert all(" COMPLETE " in out for out in outs), outs
