"""Helpers of the slow reliability suites (kills, interrupts, outages, many machines): real `tipsd run`
processes in sessions of their own, and what their storage holds afterwards.

Each suite appends its figures (kills survived, runs lost, ...) as one JSON line to the file named by
``TIPSD_RELIABILITY_FIGURES`` when it is set; docs/reliability.md quotes them.
"""
from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import TrialState

ROOT = Path(__file__).resolve().parents[1]


def grid_4x4x2(name: str, *, epochs: int = 1, samples: int = 16, extra_run: str = "") -> str:
    """The suites' study: gamma_info x gamma_s over 4 x 4 values, 2 seeds (32 runs), tiny preset."""
    return f"""name = "{name}"
seeds = [0, 1]
[space]
gamma_info = [0, 0.1, 1, 5]
gamma_s = [0, 0.1, 1, 5]
[train]
preset = "tiny"
overrides = {{ epochs = {epochs}, max_train_samples = {samples}, max_val_samples = {samples} }}
[run]
heartbeat_s = 1
grace_s = 3
{extra_run}
"""


def tipsd_env(cache: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", TIPSD_CACHE_DIR=str(cache), PYTHONUNBUFFERED="1")
    env.pop("TIPSD_KILL_AT", None)
    env.update(extra)
    return env


@dataclass
class Proc:
    """A `tipsd` process started in a session (process group) of its own, output to a file."""

    popen: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def killpg(self, sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)


def start(argv: list[str], env: dict[str, str], log: Path, cwd: Path | None = None) -> Proc:
    """Start ``tipsd ARGV`` (as ``python -m tipsd.sweep.cli``) in a new session."""
    fh = open(log, "ab")
    popen = subprocess.Popen([sys.executable, "-m", "tipsd.sweep.cli", *argv], env=env, cwd=cwd, stdout=fh,
                             stderr=subprocess.STDOUT, start_new_session=True)
    fh.close()
    return Proc(popen, log)


def children(pid: int) -> list[int]:
    """Direct children of `pid` (Linux /proc)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def trials(url: str, name: str) -> list:
    try:
        return optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)
    except KeyError:
        return []


def wait_until(predicate, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except Exception:  # noqa: BLE001 - the storage may not exist yet
            pass
        time.sleep(interval)
    return False


@dataclass
class Tally:
    """What a study's trials say, in the suites' terms."""

    complete_jobs: collections.Counter = field(default_factory=collections.Counter)
    running: int = 0
    lost: int = 0
    interrupted: int = 0
    duplicates: int = 0
    failed: int = 0

    @property
    def double_counted(self) -> int:
        return sum(n - 1 for n in self.complete_jobs.values() if n > 1)


def tally(url: str, name: str) -> Tally:
    out = Tally()
    for t in trials(url, name):
        attrs = t.user_attrs
        if "duplicate_of" in attrs:
            out.duplicates += 1
        elif t.state == TrialState.COMPLETE:
            out.complete_jobs[attrs["job"]] += 1
        elif t.state == TrialState.RUNNING:
            out.running += 1
        elif attrs.get("interrupted"):
            out.interrupted += 1
        elif t.state == TrialState.FAIL and "fail_reason" not in attrs:
            out.lost += 1
        elif t.state == TrialState.FAIL:
            out.failed += 1
    return out


def temporaries(cache: Path) -> list[str]:
    """Temporaries a builder leaves while writing the cache (dot-named, next to the final files)."""
    return sorted(str(p.relative_to(cache)) for sub in ("datasets", "crops") if (cache / sub).is_dir()
                  for p in (cache / sub).iterdir() if p.name.startswith(".") and not p.name.endswith(".lock"))


def record_figures(suite: str, **figures) -> None:
    """Print the suite's figures and append them to ``$TIPSD_RELIABILITY_FIGURES`` (JSON lines)."""
    line = json.dumps({"suite": suite, "date": time.strftime("%Y-%m-%d"), **figures}, sort_keys=True)
    print(line)
    target = os.environ.get("TIPSD_RELIABILITY_FIGURES")
    if target:
        with open(target, "a") as fh:
            fh.write(line + "\n")


def postgres_url() -> str:
    return os.environ.get("TIPSD_TEST_POSTGRES_URL", "")
