"""Faults of issue 10, one test (or a few) per kind, fast (in-process, the fake trainer); the slow
suites (kills, interrupts, outages, many machines) are in tests/test_reliability_*.py."""
from __future__ import annotations

import faulthandler
import itertools
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from test_sweep_support import FAST_RUN, fake_train, grid_study, unlabelled_val_copy, write_study
from tipsd.model.record import masked_url, scrub
from tipsd.sweep.cli import main
from tipsd.sweep.spec import load_spec
from tipsd.sweep.runner import run_study

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "cases"


@pytest.fixture
def watchdog():
    """Fail loudly (traceback, exit) instead of hanging forever: the faults here used to hang."""
    faulthandler.dump_traceback_later(240, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def _trials(url, name):
    return optuna.load_study(study_name=name, storage=url).get_trials()


def _complete_jobs(trials):
    return sorted(t.user_attrs["job"] for t in trials if t.state == TrialState.COMPLETE and "duplicate_of" not in t.user_attrs)


# ---- 1. a claim killed between its two writes: the orphan is failed, the study completes ------------

def test_stuck_running_trial_case_completes(tmp_path, watchdog, capsys):
    """tests/cases/stuck-running-trial.sqlite3: RUNNING trial without heartbeat and a job 'given up'
    after three kills; right: both re-run, every (cell, seed) COMPLETE exactly once, nothing RUNNING."""
    db = tmp_path / "k.db"
    shutil.copy(CASES / "stuck-running-trial.sqlite3", db)
    url = f"sqlite:///{db}"
    assert main(["status", "--storage", url]) == 0
    assert "1 running (1 silent: worker gone, re-run by the next `tipsd run`), 0 given up" in capsys.readouterr().out
    study_file = write_study(tmp_path, "smoke", (ROOT / "studies" / "smoke.toml").read_text() + FAST_RUN)
    lines = []
    report = run_study(load_spec(study_file), url, train_fn=fake_train, progress=False, say=lines.append)
    assert lines == ["resuming: 6 of 8 runs done"]
    assert report.ledger.finished and not report.ledger.exhausted
    trials = _trials(url, "smoke")
    jobs = _complete_jobs(trials)
    assert len(jobs) == 8 and len(set(jobs)) == 8
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert len(report.outcomes) == 2  # the orphan's job and the wrongly given-up one
    assert main(["status", "--storage", url]) == 0
    assert "runs: 8/8 done (100%), 0 running, 0 given up" in capsys.readouterr().out


def test_orphan_without_heartbeat_gets_one_then_goes_stale(tmp_path):
    from tipsd.sweep.claim import claim
    from tipsd.sweep.heartbeat import fail_stale, orphan_trial_ids
    from tipsd.sweep.jobs import ledger
    from tipsd.sweep.storage import create_or_resume, open_storage

    spec = load_spec(grid_study(tmp_path, seeds=(0,)))
    storage = open_storage(f"sqlite:///{tmp_path}/t.db", heartbeat_s=1, grace_s=2)
    study = create_or_resume(spec, storage, "x")
    job = ledger(spec, study.get_trials(deepcopy=False)).missing[0]
    template = optuna.trial.create_trial(state=TrialState.RUNNING, params=job.params,
                                         distributions=job.distributions, user_attrs={"job": job.key})
    orphan = storage.create_new_trial(study._study_id, template_trial=template)  # killed before its beat
    assert orphan_trial_ids(storage, study._study_id) == [orphan]
    fail_stale(study, storage)
    assert orphan_trial_ids(storage, study._study_id) == []  # adopted: it has a beat now
    assert storage.get_trial(orphan).state == TrialState.RUNNING
    time.sleep(3.5)  # grace_s + 1.5 (the storage's clock has whole seconds)
    fail_stale(study, storage)
    assert storage.get_trial(orphan).state == TrialState.FAIL
    trial, _ = claim(study, spec, job, "x")
    assert trial is not None  # the job is free again


def test_claim_kill_point_kills_between_the_two_writes(tmp_path):
    """TIPSD_KILL_AT=claim: the process dies with its trial created and no heartbeat (the kill suite's
    deterministic claim window)."""
    path = grid_study(tmp_path, seeds=(0,))
    url = f"sqlite:///{tmp_path}/t.db"
    code = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(ROOT / 'tests')!r})
        from test_sweep_support import fake_train
        from tipsd.sweep.runner import run_study
        from tipsd.sweep.spec import load_spec
        run_study(load_spec({str(path)!r}), {url!r}, train_fn=fake_train, progress=False)
    """)
    proc = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, TIPSD_KILL_AT="claim"),
                          capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    (trial,) = _trials(url, "g")
    assert trial.state == TrialState.RUNNING
    con = sqlite3.connect(tmp_path / "t.db")
    assert con.execute("SELECT count(*) FROM trial_heartbeats").fetchone() == (0,)


# ---- 2. killed workers do not use up the failure budget; --retry-failed -------------------------------

def test_lost_trials_are_rerun_without_counting_and_real_failures_are_given_up(tmp_path):
    from tipsd.sweep.jobs import ledger

    spec = load_spec(grid_study(tmp_path, seeds=(0,), extra=""))
    job = ledger(spec, []).missing[0]

    def trial(number, **attrs):
        t = optuna.trial.create_trial(state=TrialState.FAIL, params=job.params, distributions=job.distributions,
                                      user_attrs={"job": job.key, **attrs})
        t.number = number
        return t

    lost = [trial(i) for i in range(5)]  # five dead workers: no fail_reason
    led = ledger(spec, lost)
    assert led.lost[job.key] == 5 and job.key not in led.exhausted and job.key in {j.key for j in led.missing}
    failed = [trial(i, fail_reason="RuntimeError: boom") for i in range(3)]  # max_retries = 2
    assert ledger(spec, failed).exhausted == [job.key]
    assert ledger(spec, failed, retry_from=3).exhausted == []  # after `tipsd run --retry-failed`


def test_given_up_run_can_be_retried_after_the_cause_is_fixed(tmp_path, capsys):
    from tipsd.model.data import resolve_dataset

    data = unlabelled_val_copy(tmp_path / "dataset")  # passes every check, but every try fails in training
    path = write_study(tmp_path, "broken", f"""
name = "broken"
seeds = [0]
[space]
gamma_s = [0.1]
[train]
preset = "tiny"
overrides = {{data = "{data}", epochs = 1, max_train_samples = 8, max_val_samples = 8}}
[run]
heartbeat_s = 1
grace_s = 2
max_retries = 1
""")
    url = f"sqlite:///{tmp_path}/t.db"
    assert main(["run", str(path), "--storage", url, "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "given up" in err and f"tipsd run {path} --retry-failed" in err
    assert main(["run", str(path), "--storage", url, "--no-progress"]) == 1  # still given up
    capsys.readouterr()
    shutil.rmtree(data)
    shutil.copytree(resolve_dataset("synth:tiny"), data)  # the cause, fixed
    assert main(["run", str(path), "--storage", url, "--no-progress", "--retry-failed"]) == 0
    out = capsys.readouterr().out
    assert "resuming: 0 of 1 runs done" in out and "1/1 runs done, 0 given up" in out


# ---- 3. interrupts: one terminal state with the reason, then "resuming" --------------------------------

def test_sigint_during_training_ends_the_trial_interrupted_and_the_next_run_resumes(tmp_path, capsys):
    spec = load_spec(grid_study(tmp_path))
    url = f"sqlite:///{tmp_path}/t.db"
    calls = []

    def train_then_ctrl_c(config, **kw):
        calls.append(config.seed)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, in the middle of training
            time.sleep(5)  # never reached: the stop lands here
        return fake_train(config, **kw)

    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_study(spec, url, train_fn=train_then_ctrl_c, progress=False)
    assert time.monotonic() - t0 < 30
    trials = _trials(url, "g")
    assert [t.state for t in trials].count(TrialState.RUNNING) == 0
    (stopped,) = [t for t in trials if t.state == TrialState.FAIL]
    assert stopped.user_attrs["interrupted"] is True and stopped.user_attrs["fail_reason"] == "interrupted by the user"
    lines = []
    run_study(spec, url, train_fn=fake_train, progress=False, say=lines.append)
    assert lines == ["resuming: 2 of 8 runs done"]
    assert len(set(_complete_jobs(_trials(url, "g")))) == 8


def test_a_stop_during_a_storage_write_waits_for_the_write():
    from tipsd.sweep import interrupts

    with interrupts.stop_on_signals():
        with pytest.raises(KeyboardInterrupt):
            with interrupts.interruptible():
                with interrupts.deferred():
                    os.kill(os.getpid(), signal.SIGINT)
                    done = "the write finished"  # not interrupted
                    os.kill(os.getpid(), signal.SIGINT)  # a second signal is ignored
                assert False, "raised when the deferred block ended"  # pragma: no cover
        assert done == "the write finished"
        assert interrupts.stop_requested() == "SIGINT"
    assert interrupts.stop_requested() == ""  # handlers restored


def test_cli_interrupt_is_one_line_exit_130(tmp_path, capsys, monkeypatch):
    import tipsd.sweep.runner as runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_study", interrupted)
    assert main(["run", str(grid_study(tmp_path)), "--storage", f"sqlite:///{tmp_path}/t.db"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tipsd run: error: interrupted; every run in progress")


# ---- 4. storage outages are retried, then one line ------------------------------------------------------

def _flaky(failures: int):
    import sqlalchemy.exc

    calls = []

    def method(self, *args):
        calls.append(args)
        if len(calls) <= failures:
            raise sqlalchemy.exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
        return "ok"

    return method, calls


def test_storage_operations_ride_out_an_outage_then_fail_in_one_line(tmp_path):
    from tipsd.sweep.storage import StorageUnavailable, open_storage

    storage = open_storage(f"sqlite:///{tmp_path}/t.db", retry_s=5)
    notes = []
    storage.notify = notes.append
    method, calls = _flaky(3)
    assert storage._retry("get_trial", method, 1) == "ok" and len(calls) == 4
    assert "unreachable" in notes[0] and "reachable again" in notes[1] and storage.recovered_at is not None
    storage.retry_s = 1
    method, _ = _flaky(1000)
    with pytest.raises(StorageUnavailable, match=r"unreachable for 1 s \(run.storage_retry_s = 1\): connection refused"):
        storage._retry("get_trial", method, 1)
    bad_data, calls = _flaky(0)

    def too_long(self, *args):
        import sqlalchemy.exc

        raise sqlalchemy.exc.DataError("INSERT", {}, ValueError("value too long"))

    with pytest.raises(Exception, match="value too long"):  # not an outage: not retried
        storage._retry("set_trial_user_attr", too_long, 1)


def test_top_level_handler_storage_error_and_internal_error(tmp_path, capsys, monkeypatch):
    import sqlalchemy.exc

    import tipsd.sweep.commands as commands

    def storage_down(args):
        raise optuna.exceptions.StorageInternalError("An exception is raised during the commit. This typically "
                                                     "happens due to invalid data in the commit, e.g. exceeding max length.") \
            from sqlalchemy.exc.OperationalError("x", {}, ConnectionRefusedError("server closed the connection"))

    monkeypatch.setattr(commands, "cmd_status", storage_down)
    import tipsd.sweep.cli as cli

    monkeypatch.setitem(cli.COMMANDS, "status", (cli.COMMANDS["status"][0], storage_down))
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert err == "tipsd status: error: storage error: server closed the connection\n"

    def bug(args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setitem(cli.COMMANDS, "status", (cli.COMMANDS["status"][0], bug))
    assert main(["status"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "internal error: ZeroDivisionError: division by zero" in err[0] and "please report" in err[0]
    assert main(["status", "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("tipsd status: internal error")


# ---- 5. passwords ------------------------------------------------------------------------------------------

def test_passwords_are_masked_and_the_storage_url_is_not_stored(tmp_path, capsys):
    assert masked_url("postgresql+psycopg://me:pw%40x@db:5432/t") == "postgresql+psycopg://me:***@db:5432/t"
    assert scrub("err: postgresql://a:b@h/d, again b", ("b",)) == "err: postgresql://a:***@h/d, again ***"
    db = tmp_path / "t.db"
    body = f'storage = "sqlite:///{db}"\n' + grid_study(tmp_path, seeds=(0,)).read_text()
    path = write_study(tmp_path, "g", body)
    run_study(load_spec(path), f"sqlite:///{db}", train_fn=fake_train, progress=False)
    study = optuna.load_study(study_name="g", storage=f"sqlite:///{db}")
    assert "storage" not in study.user_attrs["tipsd.spec"]
    secret = "pw-Sup3rS3cret"
    assert main(["status", "--storage", f"postgresql+psycopg://me:{secret}@127.0.0.1:1/x"]) == 2
    err = capsys.readouterr().err
    assert secret not in err and "me:***@127.0.0.1:1" in err


def test_an_old_study_with_a_stored_password_is_cleaned_on_resume_and_masked_meanwhile(tmp_path):
    from tipsd.sweep.dashboard import study_note

    url = f"sqlite:///{tmp_path}/t.db"
    spec = load_spec(grid_study(tmp_path, seeds=(0,)))
    run_study(spec, url, train_fn=fake_train, progress=False)
    study = optuna.load_study(study_name="g", storage=url)
    leaked = dict(study.user_attrs["tipsd.spec"], storage="postgresql://me:hunter22@db/x")
    study.set_user_attr("tipsd.spec", leaked)  # what tipsd 0.1 stored
    assert "hunter22" not in study_note(study.user_attrs) and "me:***@db" in study_note(study.user_attrs)
    run_study(spec, url, train_fn=fake_train, progress=False, say=lambda line: None)
    assert "storage" not in optuna.load_study(study_name="g", storage=url).user_attrs["tipsd.spec"]


# ---- 6. read-only storage: file and folder, WAL and rollback journal -------------------------------------

READERS = [
    ["status"], ["table", "g"], ["compare", "g", "--paper", "table1"], ["heatmap", "g", "-o", "{out}/h.png"],
    ["importance", "g"], ["report", "g", "-o", "{out}/rep"], ["export", "g", "-o", "{out}/g.csv"],
]


def _drop_write_override():
    """In the child: drop CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH from the bounding set, so that root
    obeys file permissions after exec (a read-only file or folder is read-only for it too)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.mark.parametrize("journal,what", [
    ("wal", "folder"),  # the hardest: SQLite cannot even create its index file there
    pytest.param("wal", "file", marks=pytest.mark.slow),
    pytest.param("delete", "folder", marks=pytest.mark.slow),
    pytest.param("delete", "file", marks=pytest.mark.slow),
])
def test_read_only_storage_can_be_read_by_every_reader(tmp_path, journal, what):
    store = tmp_path / "archive"
    store.mkdir()
    url = f"sqlite:///{store}/t.db"
    work = f"sqlite:///{tmp_path}/work.db"
    spec = load_spec(write_study(tmp_path, "g", """name = "g"
seeds = [0, 1]
[space]
gamma_info = [0, 0.1, 1, 5]
gamma_s = [0.1, 1]
[train]
preset = "tiny"
"""))
    run_study(spec, work, train_fn=fake_train, progress=False)
    src, dst = sqlite3.connect(tmp_path / "work.db"), sqlite3.connect(store / "t.db")
    src.backup(dst)  # the archived copy
    dst.execute(f"PRAGMA journal_mode={journal}")
    src.close()
    dst.close()
    out = tmp_path / "out"
    out.mkdir()
    (store / "t.db").chmod(0o444)
    if what == "folder":
        store.chmod(0o555)
    before = (store / "t.db").read_bytes()
    calls = [[a.format(out=out) for a in argv] + ["--storage", url] for argv in READERS]
    code = textwrap.dedent(f"""
        import json, sys
        from tipsd.sweep.cli import main
        print(json.dumps([main(argv) for argv in {calls!r}]))
    """)
    try:
        preexec = _drop_write_override if os.geteuid() == 0 else None
        try:
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=600, preexec_fn=preexec,
                                  env=dict(os.environ, MPLBACKEND="Agg"))
        except subprocess.SubprocessError as err:
            pytest.skip(f"cannot drop the permission override here: {err}")
    finally:
        store.chmod(0o755)
    err = proc.stderr.decode()
    assert proc.returncode == 0, err[-3000:]
    assert __import__("json").loads(proc.stdout.decode().strip().splitlines()[-1]) == [0] * len(READERS), err
    assert "Traceback" not in err
    assert "artifact upload skipped: storage" in err and "is read-only" in err
    assert (store / "t.db").read_bytes() == before
    # No artifacts. A WAL reader in a writable folder keeps SQLite's index files there (empty log).
    left = {p.name: p.stat().st_size for p in store.iterdir() if p.name != "t.db"}
    if what == "folder" or journal == "delete":
        assert left == {}
    else:
        assert set(left) <= {"t.db-wal", "t.db-shm"} and left.get("t.db-wal", 0) == 0
    assert (out / "rep" / "report.md").is_file() and (out / "g.csv").is_file()


def test_run_on_a_read_only_storage_is_one_line(tmp_path, capsys, monkeypatch):
    import tipsd.sweep.storage as storage_mod

    db = tmp_path / "t.db"
    sqlite3.connect(db).close()
    monkeypatch.setattr(storage_mod.os, "access", lambda path, mode: Path(path) != db)
    assert main(["run", str(grid_study(tmp_path)), "--storage", f"sqlite:///{db}", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is read-only; this command writes to it" in err[0]


# ---- 7. equal specs: 1 and 1.0 ------------------------------------------------------------------------------

def test_spec_written_with_1_or_1_0_is_the_same_study(tmp_path, capsys):
    case = tmp_path / "case"
    shutil.copytree(CASES / "spec-1-vs-1.0", case)
    url = f"sqlite:///{tmp_path}/demo.db"
    run_study(load_spec(case / "grid.toml"), url, train_fn=fake_train, progress=False)
    for name in ("grid_float.toml", "grid_fixed_float.toml"):
        lines = []
        report = run_study(load_spec(case / name), url, train_fn=fake_train, progress=False, say=lines.append)
        assert lines == ["resuming: 2 of 2 runs done"] and report.outcomes == []
    changed = case / "changed.toml"
    changed.write_text((case / "grid_float.toml").read_text().replace("[0.1, 1.0]", "[0.1, 5]")
                       .replace("gamma_com = 1", "gamma_com = 2"))
    assert main(["run", str(changed), "--storage", url, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "fixed.gamma_com: 1 -> 2" in err and "space.gamma_s: [0.1, 1] -> [0.1, 5]" in err


# ---- 8. grids: refused above the limit, the ledger stays cheap below it ------------------------------------

def test_the_ledger_of_a_large_grid_is_cheap_after_the_first(tmp_path):
    from tipsd.sweep.jobs import ledger
    from tipsd.sweep.spec import MAX_GRID_RUNS, parse_spec

    spec = parse_spec({"name": "big", "seeds": [0, 1], "train": {"preset": "tiny"},
                       "space": {"gamma_info": [i / 100 for i in range(100)], "gamma_s": [i / 10 for i in range(100)]}})
    assert spec.total_jobs() == 20_000 <= MAX_GRID_RUNS
    ledger(spec, [])
    t0 = time.perf_counter()
    assert len(ledger(spec, []).missing) == 20_000
    assert time.perf_counter() - t0 < 2.0


# ---- 9. temporaries of killed builders ----------------------------------------------------------------------

def test_stale_temporaries_are_removed_on_the_next_open(tmp_path):
    import numpy as np

    from tipsd.model.data import resolve_dataset
    from tipsd.model.data.crop_cache import load_or_build
    from tipsd.model.data.posetrack import build_samples, load_split
    from tipsd.model.data.resolve import synth_dataset_dir

    cache = tmp_path / "cache"
    root = resolve_dataset("synth:tiny", str(cache))
    stale_dir = synth_dataset_dir("tiny", 0, str(cache)).parent / f".{root.name}-k1ll3d"
    stale_dir.mkdir()
    (stale_dir / "half.jpg").write_bytes(b"\xff\xd8")
    assert resolve_dataset("synth:tiny", str(cache)) == root and not stale_dir.exists()
    videos = load_split(root, "val")
    samples = build_samples(videos, 1)
    crops, status = load_or_build(root, "val", videos, samples, (64, 48), 1, str(cache))
    assert status == "built"
    npy = next((cache / "crops").glob("val-64x48-*.npy"))
    stale = npy.parent / f".{npy.stem}-k1ll3d.npy"
    np.save(stale, np.zeros(3))
    load_or_build(root, "val", videos, samples, (64, 48), 1, str(cache))
    assert not stale.exists()
