"""`tipsd run --batch-trials K`: K claimed jobs trained together, each stored as its own trial; a
diverging setting fails alone; a killed batched worker's trials are re-run; real `tiny` training."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from test_sweep_support import FAST_RUN, fake_train, grid_study, write_study
from tipsd.sweep.batch_jobs import pick_group
from tipsd.sweep.cli import main
from tipsd.sweep.jobs import ledger
from tipsd.sweep.runner import run_study
from tipsd.sweep.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]


def _trials(url, name):
    return optuna.load_study(study_name=name, storage=url).get_trials()


def _done(trials):
    return sorted((t.user_attrs["gamma_info"], t.user_attrs["gamma_s"], t.user_attrs["seed"])
                  for t in trials if t.state == TrialState.COMPLETE)


def _diverging_grid(tmp_path):
    return grid_study(tmp_path, "d", seeds=(0, 1), gamma_info=(1, 5))


def test_pick_group_takes_jobs_of_one_seed():
    spec = load_spec(grid_study(Path("/tmp"), seeds=(0, 1)))  # 4 cells x 2 seeds, seed-major
    led = ledger(spec, [])
    group = pick_group(led, led.missing[5], 3, spec)  # a seed-1 job first
    assert group[0] is led.missing[5] and len(group) == 3
    assert {j.seed for j in group} == {1} and len({j.key for j in group}) == 3
    assert len(pick_group(led, led.missing[0], 16, spec)) == 4  # only 4 jobs of seed 0 exist


def test_each_batched_trial_is_stored_alone_and_a_diverging_one_fails_alone(tmp_path):
    url = f"sqlite:///{tmp_path}/t.db"
    report = run_study(load_spec(_diverging_grid(tmp_path)), url, train_fn=fake_train, progress=False,
                       batch_trials=4, say=lambda line: None)
    trials = _trials(url, "d")
    assert len(trials) == 8 and report.ledger.finished and len(report.outcomes) == 8
    bad = [t for t in trials if t.state == TrialState.FAIL]
    # (5, 5) diverges in fake_train for both seeds; its three batch-mates of each seed complete.
    assert [(t.user_attrs["gamma_info"], t.user_attrs["gamma_s"]) for t in bad] == [(5.0, 5.0), (5.0, 5.0)]
    assert all(t.user_attrs["diverged"] is True for t in bad)
    assert bad[0].user_attrs["fail_reason"].startswith("training diverged at step 3: loss term L_com")
    assert _done(trials) == sorted([(1.0, 0.1, s) for s in (0, 1)] + [(1.0, 5.0, s) for s in (0, 1)]
                                   + [(5.0, 0.1, s) for s in (0, 1)])
    for t in trials:
        if t.state == TrialState.COMPLETE:  # its own metric, loss terms and intermediate values
            expected = fake_train(_config(t)).metrics["Total"]
            assert t.value == pytest.approx(expected) and t.user_attrs["metric.Total"] == pytest.approx(expected)
            assert sorted(t.intermediate_values) == list(range(10))
            assert t.intermediate_values[9] == pytest.approx(expected)
            assert t.user_attrs["loss.L_loc"] == 0.5


def _config(trial):
    from tipsd.model.config import GAMMA_NAMES, make_config

    return make_config("tiny", {**{n: trial.user_attrs[n] for n in GAMMA_NAMES}, "seed": trial.user_attrs["seed"]})


def test_a_killed_batched_worker_has_its_trials_rerun(tmp_path):
    """TIPSD_KILL_AT=report kills the worker after the batch trained, while recording its first member:
    all K trials are left RUNNING; the next run fails them as stale (lost, not counted) and redoes them."""
    path = grid_study(tmp_path, seeds=(0,))
    url = f"sqlite:///{tmp_path}/t.db"
    code = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(ROOT / 'tests')!r})
        from test_sweep_support import fake_train
        from tipsd.sweep.runner import run_study
        from tipsd.sweep.spec import load_spec
        run_study(load_spec({str(path)!r}), {url!r}, train_fn=fake_train, progress=False, batch_trials=3)
    """)
    proc = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, TIPSD_KILL_AT="report"),
                          capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    killed = _trials(url, "g")
    assert [t.state for t in killed] == [TrialState.RUNNING] * 3
    report = run_study(load_spec(path), url, train_fn=fake_train, progress=False, batch_trials=3,
                       say=lambda line: None)
    trials = _trials(url, "g")
    assert report.ledger.finished and len(report.ledger.done) == 4 and not report.ledger.failures
    assert len(_done(trials)) == 4 and len(set(_done(trials))) == 4  # every job once
    lost = [t for t in trials if t.number < 3]
    assert all(t.state == TrialState.FAIL and "fail_reason" not in t.user_attrs for t in lost)
    assert report.ledger.lost == {t.user_attrs["job"]: 1 for t in lost}


def test_resume_after_one_at_a_time_runs_batches_only_what_is_missing(tmp_path):
    path = grid_study(tmp_path, seeds=(0, 1))
    url = f"sqlite:///{tmp_path}/t.db"
    spec = load_spec(path)
    from tipsd.sweep.claim import claim
    from tipsd.sweep.storage import create_or_resume, open_storage

    study = create_or_resume(spec, open_storage(url), "x")  # one job done the ordinary way
    first = ledger(spec, study.get_trials(deepcopy=False)).missing[0]
    trial, _ = claim(study, spec, first, "x")
    study.tell(trial, 50.0)
    report = run_study(spec, url, train_fn=fake_train, progress=False, batch_trials=8, say=lambda line: None)
    assert len(report.outcomes) == 7 and report.ledger.finished and len(_trials(url, "g")) == 8


def test_real_batched_tiny_run_matches_one_at_a_time(tmp_path):
    from tipsd.model.train import train

    path = write_study(tmp_path, "r", f"""
name = "r"
seeds = [0]
[space]
gamma_s = [0.1, 1]
[train]
preset = "tiny"
overrides = {{ epochs = 2, max_train_samples = 32, max_val_samples = 24 }}
{FAST_RUN}""")
    url = f"sqlite:///{tmp_path}/t.db"
    run_study(load_spec(path), url, progress=False, batch_trials=2, say=lambda line: None)
    trials = _trials(url, "r")
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    for t in trials:
        from tipsd.model.config import make_config

        alone = train(make_config("tiny", {"epochs": 2, "max_train_samples": 32, "max_val_samples": 24,
                                           "gamma_s": t.user_attrs["gamma_s"]}))
        assert t.value == pytest.approx(alone.metrics["Total"], abs=1e-6)
        assert t.user_attrs["loss.L_s"] == pytest.approx(alone.losses["L_s"], abs=1e-6)
        assert t.intermediate_values == pytest.approx({h["epoch"]: h["Total"] for h in alone.history}, abs=1e-6)


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_bad_batch_trials_is_one_line_and_exit_2(tmp_path, capsys, value):
    path = grid_study(tmp_path)
    assert main(["run", str(path), "--storage", f"sqlite:///{tmp_path}/t.db", "--batch-trials", value]) == 2
    err = capsys.readouterr().err
    assert f"--batch-trials: '{value}' is not an integer >= 1 or auto" in err
    assert not (tmp_path / "t.db").exists()


def test_auto_is_one_on_the_cpu(tmp_path):
    from tipsd.sweep.batch_jobs import resolve_batch_trials

    spec = load_spec(grid_study(tmp_path))
    assert resolve_batch_trials("auto", spec, {"device": "cpu"}) == 1
    assert resolve_batch_trials(6, spec, {}) == 6
