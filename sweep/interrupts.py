"""Stopping a run cleanly on Ctrl-C (SIGINT) or SIGTERM: every trial in flight ends FAIL ``interrupted``.

A signal does not raise wherever the program happens to be: a `KeyboardInterrupt` in the middle of
a storage write could leave a trial half-written (its attributes set, its state still RUNNING).
While `stop_on_signals` is in force, the first SIGINT/SIGTERM only records that a stop was asked
for; it raises `KeyboardInterrupt` at once only inside `interruptible()` (the training computation,
where nothing is being written), and the worker loop checks `stop_requested()` between storage
operations. Later signals are ignored: the process is already stopping, and a second
`KeyboardInterrupt` raised inside the handler that records the interruption is what left trials
RUNNING before.

A worker process started by `tipsd run --workers N` ignores SIGINT from its first instruction on (it
inherits SIG_IGN: a Ctrl-C reaches the whole process group, and a worker still importing torch must
not die of it with a traceback); its parent forwards any stop as one SIGTERM, with the original
signal's number in a shared value so that the trial's reason says what the user did. A worker
receives SIGTERM when its parent dies (Linux), so no worker outlives its run.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import Iterator

_state: dict = {"requested": "", "interruptible": False, "parent_reason": None, "parent_pid": None}


def stop_requested() -> str:
    """The name of the signal that asked this process to stop ("SIGINT", "SIGTERM"), or "" (also
    when `stop_on_signals` is not in force)."""
    return _state["requested"] if installed() else ""


def request_stop(name: str = "SIGINT") -> None:
    """Ask this process to stop, as a signal would (used by tests and by the parent's forwarding)."""
    if not _state["requested"]:
        _state["requested"] = name


def _handler(signum, frame) -> None:  # noqa: ARG001 - signal API
    if _state["requested"]:
        return  # already stopping: a second signal must not interrupt the clean-up
    forwarded = _state["parent_reason"].value if _state["parent_reason"] is not None else 0
    _state["requested"] = signal.Signals(forwarded or signum).name
    if _state["interruptible"]:
        _state["interruptible"] = False
        raise KeyboardInterrupt


@contextlib.contextmanager
def stop_on_signals(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """Install the deferred-stop handler for `signals` for the ``with`` block (main thread only;
    elsewhere a no-op), and restore the previous handlers afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _handler) for s in signals}
    _state["requested"], _state["interruptible"] = "", False
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        _state["interruptible"] = False


def installed() -> bool:
    """Whether the deferred-stop handler is in force for SIGINT in this process."""
    return signal.getsignal(signal.SIGINT) is _handler or signal.getsignal(signal.SIGTERM) is _handler


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """A block that a stop may interrupt at once (`KeyboardInterrupt`): pure computation, no writes.

    Raises `KeyboardInterrupt` on entry if a stop was already asked for.
    """
    if _state["requested"] and installed():
        raise KeyboardInterrupt
    before = _state["interruptible"]
    _state["interruptible"] = installed()
    try:
        yield
    finally:
        _state["interruptible"] = before and installed()


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A block inside `interruptible()` that must not be interrupted (a storage write); a stop asked
    for meanwhile raises `KeyboardInterrupt` when the block has finished."""
    before = _state["interruptible"]
    _state["interruptible"] = False
    try:
        yield
    finally:
        _state["interruptible"] = before
    if before and _state["requested"]:
        _state["interruptible"] = False
        raise KeyboardInterrupt


def check() -> None:
    """Raise `KeyboardInterrupt` if a stop was asked for (call between storage operations)."""
    if _state["requested"] and installed():
        raise KeyboardInterrupt


def child_setup(parent_reason=None, parent_pid: int | None = None) -> None:
    """In a worker process: ignore SIGINT (the parent forwards a stop as SIGTERM, and the number of
    the signal it got in `parent_reason`, a shared ``multiprocessing.Value``), and get SIGTERM when
    the parent dies (Linux ``PR_SET_PDEATHSIG``; elsewhere the parent's exit is enough). `parent_pid`
    lets `parent_died` tell that SIGTERM from one the parent forwarded."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _state["parent_reason"] = parent_reason
    _state["parent_pid"] = parent_pid
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux
        pass


def parent_died(wait_s: float = 0.0) -> bool:
    """In a worker process: whether the `tipsd run` process that started it is gone (this process was
    re-parented), e.g. killed with SIGKILL, which no one can catch: the SIGTERM the worker then gets
    comes from the kernel (``PR_SET_PDEATHSIG``), not from a scheduler or a user. Waits up to
    `wait_s` seconds for the re-parenting, unless the parent forwarded a stop (it was alive)."""
    pid, forwarded = _state["parent_pid"], _state["parent_reason"]
    if pid is None or (forwarded is not None and forwarded.value):
        return False
    deadline = time.monotonic() + wait_s
    while os.getppid() == pid:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


@contextlib.contextmanager
def children_ignore_sigint() -> Iterator[None]:
    """Start child processes inside this block: they inherit SIGINT ignored (SIG_IGN survives exec),
    so a Ctrl-C while they start up cannot kill them half-way. The parent's handler is back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


__all__ = ["check", "child_setup", "children_ignore_sigint", "deferred", "installed", "interruptible", "request_stop", "stop_on_signals",
           "stop_requested"]
