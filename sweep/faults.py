"""Deterministic kill points for the kill suite (tests/test_reliability_kill.py).

A kill at a random moment rarely lands in a window of a few milliseconds, such as the one between the
two writes of a claim. ``TIPSD_KILL_AT=<point>[,<point>...]`` makes the process SIGKILL itself the
first time it reaches one of the named points; unset (always, outside the suite), `kill_point` is
one dictionary lookup.

Points: ``start`` (storage opened, before the study is created or resumed), ``claim`` (a trial
created RUNNING, before its first heartbeat), ``report`` (training finished and its result
recorded, before the trial is told COMPLETE).
"""
from __future__ import annotations

import os
import signal

POINTS = ("start", "claim", "report")


def kill_point(name: str) -> None:
    """SIGKILL this process if ``TIPSD_KILL_AT`` names `name` (see the module docstring)."""
    wanted = os.environ.get("TIPSD_KILL_AT")
    if wanted and name in wanted.split(","):
        os.kill(os.getpid(), signal.SIGKILL)


__all__ = ["POINTS", "kill_point"]
