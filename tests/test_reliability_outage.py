"""Outage suite: the PostgreSQL server is stopped for 15 s in the middle of a run and started again.

Workers ride it out (``[run] storage_retry_s`` longer than the outage: every run completes, the run
exits 0) or, when it lasts past ``storage_retry_s``, exit with one error line (exit 2, no traceback);
either way nothing that had finished is lost, and a later run completes the study.
Needs the PostgreSQL binaries (a throw-away server of its own: tests/pg_server.py).
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

import pg_server
from reliability_support import grid_4x4x2, record_figures, start, tally, tipsd_env, trials, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(not pg_server.available(), reason="PostgreSQL binaries are not installed"),
]
OUTAGE_S = 15


def _finished(url: str, name: str) -> dict[int, float]:
    return {t.number: t.value for t in trials(url, name) if t.state == TrialState.COMPLETE}


def _start_runs(tmp: Path, pg, retry_s: int, n: int, name: str = "o"):
    study = tmp / f"{name}.toml"
    study.write_text(grid_4x4x2(name, epochs=2, extra_run=f"storage_retry_s = {retry_s}"))
    env = tipsd_env(Path(os.environ["TIPSD_CACHE_DIR"]))
    procs = [start(["run", str(study), "--storage", pg.url, "--no-progress"], env, tmp / f"run-{i}.log")
             for i in range(n)]
    return study, procs


def _outage(pg, url: str, name: str) -> dict[int, float]:
    """Stop the server once runs have finished and others are running; start it again OUTAGE_S later."""
    def busy() -> bool:
        states = [t.state for t in trials(url, name)]
        return states.count(TrialState.COMPLETE) >= 3 and TrialState.RUNNING in states

    assert wait_until(busy, 300), "the runs never got going"
    before = _finished(url, name)
    pg.stop()
    time.sleep(OUTAGE_S)
    pg.start()
    return before


def _nothing_lost(url: str, before: dict[int, float], name: str = "o"):
    """Every run that had finished before the outage is still COMPLETE with its value; the study is
    complete, each (cell, seed) once, nothing RUNNING. Returns the tally."""
    after = _finished(url, name)
    assert all(after.get(n) == v for n, v in before.items()), "a finished run was lost"
    t = tally(url, name)
    assert len(t.complete_jobs) == 32 and t.double_counted == 0 and t.running == 0
    return t


def test_workers_survive_a_15_s_database_restart(tmp_path):
    with pg_server.PgServer() as pg:
        study, procs = _start_runs(tmp_path, pg, retry_s=120, n=3)
        try:
            before = _outage(pg, pg.url, "o")
            codes = [p.wait(timeout=900) for p in procs]
        finally:
            for p in procs:
                p.killpg(signal.SIGKILL)
        outs = [p.output() for p in procs]
        assert codes == [0, 0, 0], outs
        assert all("Traceback" not in out for out in outs)
        assert any("unreachable" in out and "reachable again after" in out for out in outs), outs
        t = _nothing_lost(pg.url, before)
        record_figures("outage", case="survived", outage_s=OUTAGE_S, storage_retry_s=120, processes=3,
                       exit_codes=codes, finished_before=len(before), finished_lost=0, runs=32,
                       complete_once=len(t.complete_jobs), double_counted=0, left_running=0,
                       lost_and_rerun=t.lost)


def test_an_outage_past_storage_retry_s_is_one_line_then_a_run_completes(tmp_path):
    with pg_server.PgServer() as pg:
        study, procs = _start_runs(tmp_path, pg, retry_s=5, n=2)
        try:
            before = _outage(pg, pg.url, "o")
            codes = [p.wait(timeout=600) for p in procs]
        finally:
            for p in procs:
                p.killpg(signal.SIGKILL)
        outs = [p.output() for p in procs]
        assert codes == [2, 2], outs
        for out in outs:
            lines = out.strip().splitlines()
            assert "Traceback" not in out
            assert lines[-1].startswith("tipsd run: error: storage postgresql+psycopg://postgres@127.0.0.1:")
            assert "unreachable for" in lines[-1] and "(run.storage_retry_s = 5)" in lines[-1]
            assert len([ln for ln in lines if ln.startswith("tipsd")]) <= 2  # "retrying ..." and the error
        # The server is back: a later run completes; nothing that had finished was lost.
        clean = start(["run", str(study), "--storage", pg.url, "--no-progress"],
                      tipsd_env(Path(os.environ["TIPSD_CACHE_DIR"])), tmp_path / "clean.log")
        assert clean.wait(timeout=900) == 0, clean.output()[-3000:]
        t = _nothing_lost(pg.url, before)
        record_figures("outage", case="past storage_retry_s", outage_s=OUTAGE_S, storage_retry_s=5, processes=2,
                       exit_codes=codes, finished_before=len(before), finished_lost=0, runs=32,
                       complete_once=len(t.complete_jobs), double_counted=0, left_running=0,
                       lost_and_rerun=t.lost)
