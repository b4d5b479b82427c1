"""Kill suite: SIGKILLs at each stage of a run (start-up, data generation, crop cache, the claim
window, training, reporting) and at random moments, over a 4 x 4 x 2 tiny grid, on SQLite
(``--workers 2``) and on PostgreSQL (3 separate ``tipsd run`` processes); then a clean run.

Asserts: every (cell, seed) COMPLETE exactly once, 0 RUNNING, 0 given up, the clean run exits 0,
``tipsd table``/``export`` count each (cell, seed) once, and no temporary is left in the cache.
The claim window (a few milliseconds) is hit deterministically (``TIPSD_KILL_AT=claim``), like the
start-up and reporting points; data generation, the crop cache and training are hit by watching for
them; the rest are random. ``TIPSD_KILL_SEED`` fixes the random moments (default 2026).
"""
from __future__ import annotations

import csv
import io
import os
import random
import signal
import time
import uuid
from pathlib import Path

import pytest
from optuna.trial import TrialState

from reliability_support import (Proc, children, grid_4x4x2, postgres_url, record_figures, start, tally, temporaries,
                                 tipsd_env, trials, wait_until)

pytestmark = pytest.mark.slow
MIN_KILLS = 12
MIN_RANDOM = 6


def _rng() -> random.Random:
    return random.Random(int(os.environ.get("TIPSD_KILL_SEED", "2026")))


def _group_gone(proc: Proc, timeout: float = 60) -> None:
    """Wait until no process of `proc`'s group is left (workers of a killed parent stop by themselves)."""
    def gone() -> bool:
        proc.popen.poll()
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return True
        return False

    if not wait_until(gone, timeout, 0.1):
        proc.killpg(signal.SIGKILL)
        wait_until(gone, 10, 0.1)


def _temp_in(cache: Path, sub: str) -> bool:
    return any(p.startswith(f"{sub}/") for p in temporaries(cache))


def _running(url: str, name: str) -> bool:
    return any(t.state == TrialState.RUNNING for t in trials(url, name))


class Killer:
    """Starts `tipsd run` processes for one study and kills them, counting every SIGKILL by stage."""

    def __init__(self, tmp: Path, name: str, url: str, cache: Path, workers: int):
        self.tmp, self.name, self.url, self.cache, self.workers = tmp, name, url, cache, workers
        self.study = tmp / f"{name}.toml"
        self.study.write_text(grid_4x4x2(name))
        self.kills: list[tuple[str, str]] = []  # (stage, what was killed)
        self.n = 0

    def launch(self, **env: str) -> Proc:
        self.n += 1
        argv = ["run", str(self.study), "--storage", self.url, "--no-progress"]
        if self.workers > 1:
            argv += ["--workers", str(self.workers)]
        return start(argv, tipsd_env(self.cache, **env), self.tmp / f"run-{self.n}.log")

    def kill(self, proc: Proc, stage: str, what: str = "group") -> None:
        if what == "group":
            proc.killpg(signal.SIGKILL)
        else:
            pids = {"parent": [proc.pid], "worker": children(proc.pid)[:1]}[what]
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    return
        self.kills.append((stage, what))

    def self_kill(self, stage: str) -> None:
        """Run with ``TIPSD_KILL_AT=<stage>``: every process that reaches the point kills itself."""
        proc = self.launch(TIPSD_KILL_AT=stage)
        try:
            proc.wait(timeout=300)
        finally:
            _group_gone(proc)
        out = proc.output()
        died = out.count(" was killed (SIGKILL)") if self.workers > 1 else int(proc.popen.returncode == -9)
        if self.workers > 1 and stage == "start":
            died = int(proc.popen.returncode == -9)  # the parent dies before it starts workers
        assert died >= 1, f"{stage}: nothing reached the kill point\n{out[-3000:]}"
        self.kills += [(stage, "self")] * died

    def kill_when(self, stage: str, predicate, timeout: float = 240) -> None:
        proc = self.launch()
        try:
            hit = wait_until(predicate, timeout, 0.02)
            assert hit, f"{stage} never seen\n{proc.output()[-3000:]}"
            self.kill(proc, stage)
        finally:
            _group_gone(proc)

    def staged(self) -> None:
        self.self_kill("start")
        self.kill_when("data generation", lambda: _temp_in(self.cache, "datasets"))
        self.kill_when("crop cache", lambda: _temp_in(self.cache, "crops"))
        self.self_kill("claim")
        assert any(t.state == TrialState.RUNNING for t in trials(self.url, self.name))  # the orphan
        self.kill_when("training", lambda: _running(self.url, self.name))
        self.self_kill("report")


def _finish_and_check(killer: Killer, clean: list[Proc], wall0: float, storage: str) -> None:
    from tipsd.analysis.runs import aggregate_cells, load_runs
    from tipsd.sweep.cli import main

    for proc in clean:
        rc = proc.wait(timeout=900)
        assert rc == 0, proc.output()[-4000:]
        assert "Traceback" not in proc.output()
    t = tally(killer.url, killer.name)
    assert len(t.complete_jobs) == 32 and t.double_counted == 0, t
    assert t.running == 0
    outs = [p.output() for p in clean]
    given_up = [line for out in outs for line in out.splitlines() if " given up" in line and "runs done" in line]
    assert given_up and all(", 0 given up," in line for line in given_up), given_up
    runs = load_runs(killer.url, killer.name)
    assert len(runs) == 32 and not runs.duplicated(["cell", "seed"]).any()
    cells = aggregate_cells(runs)
    assert len(cells) == 16 and (cells["n"] == 2).all()
    buf = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(buf):
        assert main(["table", killer.name, "--storage", killer.url, "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(buf.getvalue())))
    assert len(rows) == 5 and all(all(v != "" for v in row) for row in rows[1:]), rows
    assert temporaries(killer.cache) == []
    stages = {}
    for stage, _ in killer.kills:
        stages[stage] = stages.get(stage, 0) + 1
    record_figures("kill", storage=storage, workers=killer.workers, kills=len(killer.kills), kills_by_stage=stages,
                   runs=32, complete_once=len(t.complete_jobs), double_counted=t.double_counted,
                   left_running=t.running, given_up=0, lost_and_rerun=t.lost, interrupted_and_rerun=t.interrupted,
                   duplicate_claims=t.duplicates, clean_run_exit=0, wall_s=round(time.monotonic() - wall0))
    assert len(killer.kills) >= MIN_KILLS
    assert {"start", "data generation", "crop cache", "claim", "training", "report"} <= set(stages)


def test_kill_suite_sqlite_two_workers(tmp_path):
    wall0 = time.monotonic()
    rng = _rng()
    killer = Killer(tmp_path, "k", f"sqlite:///{tmp_path}/k.db", tmp_path / "cache", workers=2)
    killer.staged()
    random_kills = 0
    while random_kills < MIN_RANDOM or len(killer.kills) < MIN_KILLS:
        proc = killer.launch()
        try:
            time.sleep(rng.uniform(1.0, 12.0))
            what = rng.choice(["group", "group", "worker", "parent"])
            killer.kill(proc, "random", what)
            random_kills += 1
            if what != "parent":  # a killed parent's workers stop by themselves (SIGTERM)
                time.sleep(rng.uniform(0.5, 4.0))
                if proc.popen.poll() is None:
                    killer.kill(proc, "random", "group")
                    random_kills += 1
        finally:
            _group_gone(proc)
        if tally(killer.url, "k").complete_jobs.total() >= 28:
            break  # leave work for the clean run
    clean = killer.launch()
    _finish_and_check(killer, [clean], wall0, "sqlite")


@pytest.mark.postgres
@pytest.mark.skipif(not postgres_url(), reason="TIPSD_TEST_POSTGRES_URL is not set (no PostgreSQL server)")
def test_kill_suite_postgres_three_processes(tmp_path):
    wall0 = time.monotonic()
    rng = _rng()
    name = f"k-{uuid.uuid4().hex[:8]}"  # a fresh study in a server that may outlive this test
    killer = Killer(tmp_path, name, postgres_url(), tmp_path / "cache", workers=1)
    # Stages where one process generates while the others wait: start three, kill them all.
    killer.self_kill("start")
    for stage, seen in (("data generation", lambda: _temp_in(killer.cache, "datasets")),
                        ("crop cache", lambda: _temp_in(killer.cache, "crops"))):
        procs = [killer.launch() for _ in range(3)]
        try:
            assert wait_until(seen, 240, 0.02), f"{stage} never seen\n{procs[0].output()[-3000:]}"
            for proc in procs:
                killer.kill(proc, stage)
        finally:
            for proc in procs:
                _group_gone(proc)
    killer.self_kill("claim")
    killer.kill_when("training", lambda: _running(killer.url, name))
    killer.self_kill("report")
    # Random: keep three processes running; kill one at a random moment, start it again.
    procs = [killer.launch() for _ in range(3)]
    random_kills = 0
    try:
        while random_kills < MIN_RANDOM or len(killer.kills) < MIN_KILLS:
            time.sleep(rng.uniform(2.0, 8.0))
            i = rng.randrange(3)
            if procs[i].popen.poll() is None:
                killer.kill(procs[i], "random")
                random_kills += 1
            _group_gone(procs[i])
            if tally(killer.url, name).complete_jobs.total() >= 28:
                break
            procs[i] = killer.launch()
    finally:
        for proc in procs:
            if proc.popen.poll() is None:
                killer.kill(proc, "random")
            _group_gone(proc)
    clean = [killer.launch() for _ in range(3)]
    _finish_and_check(killer, clean, wall0, "postgresql")
