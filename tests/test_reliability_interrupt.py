"""Interrupt suite: Ctrl-C (SIGINT) to the whole process group and to the parent alone, SIGTERM to the
group (a scheduler), on real `tipsd run` processes. Every trial in flight must end FAIL
``interrupted`` with its reason within seconds, none left RUNNING, and the next run must say
"resuming: N of M runs done" and complete every run exactly once."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from reliability_support import grid_4x4x2, record_figures, start, tally, tipsd_env, trials, wait_until
from test_sweep_support import fake_train
from tipsd.sweep.runner import run_study
from tipsd.sweep.spec import load_spec

pytestmark = pytest.mark.slow

CASES = {
    "sigint-group-2-workers": (signal.SIGINT, "group", 2, "interrupted by the user"),
    "sigint-parent-alone-2-workers": (signal.SIGINT, "parent", 2, "interrupted by the user"),
    "sigterm-group-2-workers": (signal.SIGTERM, "group", 2, "stopped by SIGTERM (scheduler or kill)"),
    "sigint-1-worker": (signal.SIGINT, "group", 1, "interrupted by the user"),
}
# "Within seconds": from the signal to the process's exit, all trials in flight recorded.
STOP_LIMIT_S = 20


@pytest.mark.parametrize("case", sorted(CASES))
def test_interrupt_ends_every_trial_in_flight_then_resumes(case, tmp_path):
    sig, target, workers, reason = CASES[case]
    study = tmp_path / "i.toml"
    study.write_text(grid_4x4x2("i", epochs=3, samples=32))
    url = f"sqlite:///{tmp_path}/i.db"
    env = tipsd_env(Path(os.environ["TIPSD_CACHE_DIR"]))
    proc = start(["run", str(study), "--storage", url, "--workers", str(workers), "--no-progress"], env,
                 tmp_path / "run.log")
    try:
        def busy_after_a_first_result() -> bool:
            states = [t.state for t in trials(url, "i")]
            return TrialState.COMPLETE in states and states.count(TrialState.RUNNING) == workers

        busy = wait_until(busy_after_a_first_result, 240)
        assert busy, proc.output()[-3000:]
        t0 = time.monotonic()
        if target == "group":
            proc.killpg(sig)
        else:
            os.kill(proc.pid, sig)
        rc = proc.wait(timeout=120)
        stop_s = time.monotonic() - t0
    finally:
        proc.killpg(signal.SIGKILL)
    out = proc.output()
    assert rc == 130, out[-3000:]
    assert stop_s < STOP_LIMIT_S, f"took {stop_s:.1f} s to stop"
    assert "Traceback" not in out, out[-3000:]
    assert out.strip().splitlines()[-1].startswith("tipsd run: error: interrupted; every run in progress")
    after = tally(url, "i")
    stopped = [t for t in trials(url, "i") if t.user_attrs.get("interrupted")]
    assert after.running == 0
    assert 1 <= len(stopped) <= workers
    assert all(t.state == TrialState.FAIL and t.user_attrs["fail_reason"] == reason for t in stopped)
    assert after.double_counted == 0
    lines = []
    report = run_study(load_spec(study), url, train_fn=fake_train, progress=False, say=lines.append)
    done_before = len(after.complete_jobs)
    assert lines == [f"resuming: {done_before} of 32 runs done"]
    final = tally(url, "i")
    # The fake trainer's gamma_info = gamma_s = 5 diverges (done, not COMPLETE): 2 jobs.
    assert report.ledger.finished and not report.ledger.exhausted and len(report.ledger.done) == 32
    assert len(final.complete_jobs) == 30 and final.double_counted == 0 and final.running == 0
    record_figures("interrupt", case=case, signal=signal.Signals(sig).name, target=target, workers=workers,
                   stop_s=round(stop_s, 1), in_flight_marked=len(stopped), left_running=after.running,
                   done_before=done_before, resumed_to=len(report.ledger.done), double_counted=final.double_counted)
