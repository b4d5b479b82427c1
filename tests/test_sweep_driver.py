"""Driver logic with a deterministic stand-in training function (tests/test_sweep_support.py):
grid coverage, retries, divergence, resume, changed spec, pruning, Bayesian budget, two workers."""
from __future__ import annotations

import itertools

import optuna
import pytest
from optuna.trial import TrialState

from test_sweep_support import fake_train, grid_study, write_study, FAST_RUN
from tipsd.model.config import GAMMA_NAMES
from tipsd.sweep.runner import run_study
from tipsd.sweep.spec import load_spec
from tipsd.sweep.storage import StorageError


def _trials(url, name):
    return optuna.load_study(study_name=name, storage=url).get_trials()


def _jobs(trials, state=TrialState.COMPLETE):
    return sorted((t.user_attrs["gamma_info"], t.user_attrs["gamma_s"], t.user_attrs["seed"])
                  for t in trials if t.state == state and "duplicate_of" not in t.user_attrs)


def test_grid_covers_product_times_seeds_once_with_schema(tmp_path):
    url = f"sqlite:///{tmp_path}/t.db"
    spec = load_spec(grid_study(tmp_path, seeds=(0, 1, 2)))
    report = run_study(spec, url, train_fn=fake_train, version="9.9", progress=False)
    trials = _trials(url, "g")
    # (5, 5) is not in this grid, so nothing diverges: 2 x 2 cells x 3 seeds, each exactly once.
    assert _jobs(trials) == sorted(itertools.product([0.0, 1.0], [0.1, 5.0], [0, 1, 2]))
    assert len(trials) == 12 and report.ledger.finished and len(report.ledger.done) == 12
    t = trials[0]
    assert set(t.params) == {"gamma_info", "gamma_s"}
    for key in ["seed", *GAMMA_NAMES, "metric.Total", "metric.oks_ap", "metric.Head", "joint.head_top",
                "loss.L_loc", "loss.total", "duration_s", "frames_per_s", "peak_mem_mb", "device",
                "preset", "tipsd_version", "cell"]:
        assert key in t.user_attrs, key
    assert t.user_attrs["gamma_com"] == 1.0 and t.user_attrs["preset"] == "tiny"
    assert t.user_attrs["tipsd_version"] == "9.9" and t.value == t.user_attrs["metric.Total"]
    assert sorted(t.intermediate_values) == list(range(10))  # tiny preset: 10 epochs
    study = optuna.load_study(study_name="g", storage=url)
    assert study.user_attrs["tipsd.sampler"] == "grid" and study.user_attrs["tipsd.metric"] == "Total"
    assert study.user_attrs["tipsd.version"] == "9.9" and len(study.user_attrs["tipsd.spec_hash"]) == 64
    assert study.metric_names == ["Total"]


def test_failed_cells_are_retried_then_given_up(tmp_path, monkeypatch):
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("TIPSD_FAKE_FAIL_ONCE", str(marks))
    url = f"sqlite:///{tmp_path}/t.db"
    report = run_study(load_spec(grid_study(tmp_path, seeds=(0,))), url, train_fn=fake_train, progress=False)
    trials = _trials(url, "g")
    fails = [t for t in trials if t.state == TrialState.FAIL]
    assert len(fails) == 4 and len(_jobs(trials)) == 4 and report.ledger.finished
    assert fails[0].user_attrs["fail_reason"] == "RuntimeError: transient failure"  # one line
    # With no retries allowed, the same failure exhausts every job: reported, not re-run forever.
    for m in marks.iterdir():
        m.unlink()
    path = grid_study(tmp_path, name="g0", seeds=(0,))
    path.write_text(path.read_text().replace("max_retries = 2", "max_retries = 0"))
    report = run_study(load_spec(path), url, train_fn=fake_train, progress=False)
    assert len(report.ledger.exhausted) == 4 and not report.ledger.done
    assert len(_trials(url, "g0")) == 4


def test_divergence_is_failed_trial_and_sweep_goes_on(tmp_path):
    path = write_study(tmp_path, "d", f"""
name = "d"
seeds = [0]
[space]
gamma_info = [1, 5]
gamma_s = [5]
[train]
preset = "tiny"
{FAST_RUN}""")
    url = f"sqlite:///{tmp_path}/t.db"
    report = run_study(load_spec(path), url, train_fn=fake_train, progress=False)
    trials = _trials(url, "d")
    assert len(trials) == 2  # not retried: divergence is a result
    bad = [t for t in trials if t.state == TrialState.FAIL]
    assert len(bad) == 1 and bad[0].user_attrs["gamma_info"] == 5.0
    assert bad[0].user_attrs["fail_reason"].startswith("training diverged at step 3: loss term L_com")
    assert bad[0].user_attrs["diverged"] is True
    assert [t.user_attrs["gamma_info"] for t in trials if t.state == TrialState.COMPLETE] == [1.0]
    assert report.ledger.finished and not report.ledger.exhausted


def test_resume_runs_only_missing_and_changed_spec_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path}/t.db"
    spec = load_spec(grid_study(tmp_path))
    calls = []

    def interrupted_train(config, **kw):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(config.seed)
        return fake_train(config, **kw)

    with pytest.raises(KeyboardInterrupt):
        run_study(spec, url, train_fn=interrupted_train, progress=False)
    assert len(_jobs(_trials(url, "g"))) == 3
    rest = []
    run_study(spec, url, train_fn=lambda c, **kw: rest.append(c) or fake_train(c, **kw), progress=False)
    assert len(rest) == 5  # 8 jobs - 3 done
    trials = _trials(url, "g")
    assert len(_jobs(trials)) == 8 and len(set(_jobs(trials))) == 8
    assert [t.user_attrs["fail_reason"] for t in trials if t.state == TrialState.FAIL] == ["interrupted by the user"]
    # A third run has nothing to do.
    assert run_study(spec, url, train_fn=fake_train, progress=False).outcomes == []
    # Same name, different grid: refused, saying what changed and how to start anew.
    changed = grid_study(tmp_path, seeds=(0, 1, 2))
    with pytest.raises(StorageError, match=r"seeds: \[0, 1\] -> \[0, 1, 2\].*name = \"g-v2\""):
        run_study(load_spec(changed), url, train_fn=fake_train, progress=False)
    assert len(_trials(url, "g")) == 9


def test_pruner_prunes(tmp_path):
    path = grid_study(tmp_path, seeds=(0,), extra='[pruner]\ntype = "threshold"\nlower = 1000.0\n')
    url = f"sqlite:///{tmp_path}/t.db"
    report = run_study(load_spec(path), url, train_fn=fake_train, progress=False)
    trials = _trials(url, "g")
    assert [t.state for t in trials] == [TrialState.PRUNED] * 4
    assert all(sorted(t.intermediate_values) == [0] for t in trials)  # stopped after the first epoch
    assert trials[0].user_attrs["prune_reason"].startswith("pruned after epoch 0")
    assert report.ledger.finished and len(report.ledger.done) == 4


def test_pruner_follows_the_study_metric(tmp_path):
    """The intermediate values are the study's metric (fake_train: oks_ap is half of Total), so a
    threshold of 20 stops a Total study after epoch 2 and an oks_ap study only after epoch 5."""
    url = f"sqlite:///{tmp_path}/t.db"
    curves = {}
    for metric in ("Total", "oks_ap"):
        name = metric.lower()
        path = write_study(tmp_path, name, f"""
name = "{name}"
metric = "{metric}"
seeds = [0]
[space]
gamma_info = [1]
gamma_s = [0.1]
[train]
preset = "tiny"
[pruner]
type = "threshold"
upper = 20.0
{FAST_RUN}""")
        run_study(load_spec(path), url, train_fn=fake_train, progress=False)
        (trial,) = _trials(url, name)
        assert trial.state == TrialState.PRUNED
        curves[metric] = trial.intermediate_values
    assert sorted(curves["Total"]) == [0, 1, 2] and sorted(curves["oks_ap"]) == [0, 1, 2, 3, 4, 5]
    assert all(curves["oks_ap"][e] == pytest.approx(curves["Total"][e] / 2) for e in range(3))
    assert _trials(url, "oks_ap")[0].user_attrs["prune_reason"].startswith("pruned after epoch 5 (oks_ap 20.")


@pytest.mark.parametrize("sampler", ["tpe", "random", "qmc", "gp"])
def test_bayesian_study_runs_its_budget(tmp_path, sampler):
    path = write_study(tmp_path, "b", f"""
name = "b"
sampler = "{sampler}"
sampler_seed = 1
budget = 5
seeds = [0, 1]
[space]
gamma_info = {{low = 0.01, high = 10, log = true, include_zero = true}}
gamma_s = {{low = 0, high = 5}}
[train]
preset = "tiny"
{FAST_RUN}""")
    url = f"sqlite:///{tmp_path}/t.db"
    run_study(load_spec(path), url, train_fn=fake_train, progress=False)
    trials = _trials(url, "b")
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(trials) == len(complete) == 10
    cells = {t.user_attrs["cell"] for t in complete}
    assert len(cells) == 5
    for cell in cells:  # every setting replicated once per seed, with identical weights
        assert sorted(t.user_attrs["seed"] for t in complete if t.user_attrs["cell"] == cell) == [0, 1]
    assert all("gamma_info_is_zero" in t.params for t in complete)
    for t in complete:
        assert (t.user_attrs["gamma_info"] == 0.0) == t.params["gamma_info_is_zero"]
        assert 0.0 <= t.user_attrs["gamma_s"] <= 5.0


def test_two_local_workers_on_sqlite_finish_grid_once(tmp_path):
    url = f"sqlite:///{tmp_path}/t.db"
    spec = load_spec(grid_study(tmp_path, seeds=(0, 1, 2)))
    report = run_study(spec, url, workers=2, train_fn=fake_train, progress=False)
    trials = _trials(url, "g")
    done = _jobs(trials)
    assert done == sorted(itertools.product([0.0, 1.0], [0.1, 5.0], [0, 1, 2]))  # each exactly once
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    # Only lost claim races may fail, and they are marked, never counted.
    assert all("duplicate_of" in t.user_attrs for t in trials if t.state == TrialState.FAIL)
    assert report.ledger.finished and len(report.ledger.done) == 12


def test_bayesian_study_with_two_workers_keeps_its_budget(tmp_path):
    path = write_study(tmp_path, "b2", f"""
name = "b2"
sampler = "random"
sampler_seed = 3
budget = 4
seeds = [0, 1]
[space]
gamma_s = {{low = 0.01, high = 10, log = true}}
[train]
preset = "tiny"
{FAST_RUN}""")
    url = f"sqlite:///{tmp_path}/t.db"
    report = run_study(load_spec(path), url, workers=2, train_fn=fake_train, progress=False)
    trials = _trials(url, "b2")
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 8 and len({t.user_attrs["cell"] for t in complete}) == 4
    assert sorted((t.user_attrs["cell"], t.user_attrs["seed"]) for t in complete) == sorted(
        {(t.user_attrs["cell"], t.user_attrs["seed"]) for t in complete})  # no job twice
    assert all("duplicate_of" in t.user_attrs for t in trials if t.state != TrialState.COMPLETE)
    assert report.ledger.finished


@pytest.mark.parametrize("when", ["before_epochs", "after_training"])
def test_trial_failed_as_stale_while_training_is_left_alone(tmp_path, when):
    """A live worker whose trial another worker failed as stale (missed heartbeats) must not crash."""
    import time

    from tipsd.sweep.jobs import ledger
    from tipsd.sweep.claim import claim
    from tipsd.sweep.train_job import train_job
    from tipsd.sweep.storage import create_or_resume, open_storage

    spec = load_spec(grid_study(tmp_path, seeds=(0,)))
    storage = open_storage(f"sqlite:///{tmp_path}/t.db", heartbeat_s=1, grace_s=2)
    study = create_or_resume(spec, storage, "x")
    trial, job = claim(study, spec, ledger(spec, study.get_trials(deepcopy=False)).missing[0], "x")

    def train(config, *, on_epoch=None):
        if when == "before_epochs":
            storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            return fake_train(config, on_epoch=on_epoch)
        result = fake_train(config, on_epoch=on_epoch)
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        return result

    out = train_job(study, trial, spec, job, train_fn=train, storage=storage, runtime={},
                    started=time.perf_counter())
    assert out.state == "FAIL" and "stale" in out.reason
    assert storage.get_trial(trial._trial_id).state == TrialState.FAIL
    led = ledger(spec, study.get_trials(deepcopy=False))
    # Failed from outside (no fail_reason): lost, re-run, not counted against max_retries.
    assert led.lost[job.key] == 1 and job.key not in led.failures and job.key in {j.key for j in led.missing}


def test_status_lists_a_foreign_multi_objective_study(tmp_path, capsys):
    from tipsd.sweep.cli import main

    url = f"sqlite:///{tmp_path}/t.db"
    run_study(load_spec(grid_study(tmp_path, seeds=(0,))), url, train_fn=fake_train, progress=False)
    other = optuna.create_study(storage=url, study_name="other", directions=["maximize", "minimize"])
    other.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=2)
    assert main(["status", "--storage", url]) == 0
    out = capsys.readouterr().out
    assert "2 studies in" in out and "other (not a tipsd study): COMPLETE 2" in out
    assert "g (grid): COMPLETE 4" in out and "runs: 4/4 done (100%)" in out


def test_trial_claimed_by_a_worker_that_dies_before_training_is_failed_as_stale(tmp_path):
    """A claim records the first heartbeat itself, so the stale check covers a worker killed right after it."""
    import time

    from tipsd.sweep.jobs import ledger
    from tipsd.sweep.claim import claim
    from tipsd.sweep.storage import create_or_resume, open_storage

    spec = load_spec(grid_study(tmp_path, seeds=(0,)))
    storage = open_storage(f"sqlite:///{tmp_path}/t.db", heartbeat_s=1, grace_s=2)
    study = create_or_resume(spec, storage, "x")
    trial, _ = claim(study, spec, ledger(spec, study.get_trials(deepcopy=False)).missing[0], "x")
    # The worker "dies" here: no Heartbeat context, no training, no tell.
    time.sleep(3.5)  # grace_s + 1.5: the storage's clock has whole seconds
    optuna.storages.fail_stale_trials(study)
    assert storage.get_trial(trial._trial_id).state == TrialState.FAIL


def test_status_shows_the_trained_weight_of_an_include_zero_range(tmp_path):
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    from tipsd.sweep.status import format_status, study_status

    url = f"sqlite:///{tmp_path}/t.db"
    study = optuna.create_study(storage=url, study_name="b", direction="maximize")
    dists = {"gamma_com_is_zero": CategoricalDistribution([False, True]),
             "gamma_s": FloatDistribution(0.01, 10, log=True)}
    study.add_trial(optuna.trial.create_trial(
        params={"gamma_com_is_zero": True, "gamma_s": 0.5}, distributions=dists, value=42.0,
        user_attrs={"seed": 3, "gamma_com": 0.0, "gamma_s": 0.5}))
    out = format_status(study_status(optuna.storages.get_storage(url)), url)
    assert "best cell value (seed mean): 42.00  (runs=1 gamma_s=0.5 gamma_com=0)" in out


def test_pre_run_check_looks_images_up_without_decoding_them(tmp_path):
    """`tipsd run`'s dataset check refuses a missing image but leaves decoding to `tipsd data check`
    (a truncated image passes it and is refused by the full statistics): the check stays cheap."""
    import json
    import shutil

    from tipsd.model.data import dataset_problem, dataset_stats, resolve_dataset
    from tipsd.model.errors import DataError
    from tipsd.sweep.runner import check_dataset
    from tipsd.sweep.spec import parse_spec

    root = tmp_path / "data"
    shutil.copytree(resolve_dataset("synth:tiny"), root)
    spec = parse_spec({"name": "c", "space": {"gamma_s": [1]},
                       "train": {"preset": "tiny", "overrides": {"data": str(root)}}}, "c.toml")
    video = sorted((root / "annotations" / "train").glob("*.json"))[0]
    image = root / json.loads(video.read_text())["images"][0]["file_name"]
    image.write_bytes(image.read_bytes()[:100])  # truncated: only decoding finds it
    check_dataset(spec)  # no error
    problem = dataset_problem(root, dataset_stats(root))
    assert problem is not None and "1 of 6 annotation files could not be used" in problem and "cannot be decoded (Truncated File Read)" in problem
    image.unlink()
    with pytest.raises(DataError) as err:
        check_dataset(spec)
    assert str(err.value) == (f"{root}: 1 of 6 annotation files could not be used (`tipsd data check {root}` lists "
                              f"them); first: {video}: image file {image} is missing (file_name of image "
                              f"{json.loads(video.read_text())['images'][0]['id']})")


def test_a_dead_workers_trial_says_what_is_known_in_storage_and_status(tmp_path, capsys):
    """kill -9 of a worker leaves no signal behind: the heartbeat check fails its trial with a reason
    that says so (lost_reason, not fail_reason: it is re-run without counting), and status shows it."""
    import time

    from tipsd.sweep.claim import claim
    from tipsd.sweep.cli import main
    from tipsd.sweep.heartbeat import fail_stale
    from tipsd.sweep.jobs import ledger
    from tipsd.sweep.storage import create_or_resume, open_storage

    spec = load_spec(grid_study(tmp_path, seeds=(0,)))
    url = f"sqlite:///{tmp_path}/t.db"
    storage = open_storage(url, heartbeat_s=1, grace_s=2)
    study = create_or_resume(spec, storage, "x")
    trial, job = claim(study, spec, ledger(spec, study.get_trials(deepcopy=False)).missing[0], "x")
    time.sleep(3.5)  # the worker "died" after its claim; grace_s + 1.5 (the storage's clock has whole seconds)
    fail_stale(study, storage)
    stored = storage.get_trial(trial._trial_id)
    assert stored.state == TrialState.FAIL and "fail_reason" not in stored.user_attrs
    assert stored.user_attrs["lost_reason"] == "worker died (no heartbeat for over 2 s; killed or crashed)"
    led = ledger(spec, study.get_trials(deepcopy=False))
    assert led.lost == {job.key: 1} and job.key not in led.failures
    assert main(["status", "--storage", url]) == 0
    out = capsys.readouterr().out
    assert "  failed x1: worker died (no heartbeat for over 2 s; killed or crashed)" in out.splitlines()
    assert "SIGTERM" not in out


def test_interrupt_reason_names_a_signal_only_when_it_was_received(monkeypatch):
    import os
    import signal
    import time
    from types import SimpleNamespace

    from tipsd.sweep import interrupts
    from tipsd.sweep.train_job import PARENT_DIED, interrupt_reason

    with interrupts.stop_on_signals():
        interrupts.request_stop("SIGTERM")
        monkeypatch.setitem(interrupts._state, "parent_pid", os.getppid())  # a worker whose parent lives
        started = time.monotonic()
        assert interrupt_reason() == "stopped by SIGTERM (scheduler or kill)"
        assert time.monotonic() - started >= 1.0  # it waited PARENT_DEATH_WAIT_S for a re-parenting
        forwarded = SimpleNamespace(value=int(signal.SIGTERM))  # the parent forwarded it: no wait
        monkeypatch.setitem(interrupts._state, "parent_reason", forwarded)
        started = time.monotonic()
        assert interrupt_reason() == "stopped by SIGTERM (scheduler or kill)"
        assert time.monotonic() - started < 0.5
        monkeypatch.setitem(interrupts._state, "parent_reason", None)
        # The parent was kill -9'ed: the worker's SIGTERM came from the kernel (PR_SET_PDEATHSIG).
        monkeypatch.setitem(interrupts._state, "parent_pid", os.getppid() + 1)
        assert interrupt_reason() == PARENT_DIED == \
            "the `tipsd run` process of this worker died (killed or crashed); worker stopped"
        monkeypatch.setitem(interrupts._state, "parent_pid", None)  # not a worker process
        assert interrupt_reason() == "stopped by SIGTERM (scheduler or kill)"
    with interrupts.stop_on_signals():
        interrupts.request_stop("SIGINT")
        assert interrupt_reason() == "interrupted by the user"
