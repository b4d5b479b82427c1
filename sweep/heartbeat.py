"""A claimed trial's heartbeat, recorded by the worker itself.

The driver uses ask/tell (not ``study.optimize``) because it chooses each job itself, so Optuna does
not beat for it. The heartbeat is what lets a later worker fail the trial of a killed worker as
stale (no beat for ``grace_s``) and run its job again.
"""
from __future__ import annotations

import threading


class Heartbeat:
    """Records a trial's heartbeat every `interval` seconds in a background thread while in use.

    Example:
        >>> with Heartbeat(storage, trial_id, 10):  # doctest: +SKIP
        ...     train(...)
    """

    def __init__(self, storage, trial_id: int, interval: int | None):
        self._storage, self._trial_id, self._interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _beat(self) -> None:
        while True:
            try:
                self._storage.record_heartbeat(self._trial_id)
            except Exception:  # a missed beat is harmless; the next one retries
                pass
            if self._stop.wait(self._interval):
                return

    def __enter__(self) -> "Heartbeat":
        if self._interval:
            self._storage.record_heartbeat(self._trial_id)  # stale check needs a first beat now
            self._thread = threading.Thread(target=self._beat, daemon=True, name="tipsd-heartbeat")
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


__all__ = ["Heartbeat"]
