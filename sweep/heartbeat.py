"""A claimed trial's heartbeat, recorded by the worker itself, and the check that fails the trials
of dead workers.

The driver uses ask/tell (not ``study.optimize``) because it chooses each job itself, so Optuna does
not beat for it. The heartbeat is what lets a later worker fail the trial of a killed worker as
stale (no beat for ``grace_s``) and run its job again.

A claim is two writes (the trial, then its first beat), and Optuna's stale check skips a RUNNING
trial that never had a beat: a worker killed between the two would leave its trial RUNNING forever.
`fail_stale` closes that gap: it first gives every such orphan a heartbeat (the database's clock,
now), so the same check fails it ``grace_s`` later, on any worker and after any restart.
"""
from __future__ import annotations

import contextlib
import threading
import time

# Trial attribute: why the heartbeat check failed the trial (not `fail_reason`: such a trial was lost,
# not failed by its training, and does not count against max_retries; tipsd.sweep.jobs).
LOST_REASON = "lost_reason"


class Heartbeat:
    """Records a trial's heartbeat every `interval` seconds in a background thread while in use.

    Example:
        >>> with Heartbeat(storage, trial_id, 10):  # doctest: +SKIP
        ...     train(...)
    """

    def __init__(self, storage, trial_id: int, interval: int | None):
        self._storage, self._trial_id, self._interval = storage, trial_id, interval
        # One beat, not retried through an outage (a retrying storage's `beat_once`): the thread
        # must stay responsive, and it beats again soon anyway.
        self._beat_once = getattr(storage, "beat_once", storage.record_heartbeat)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _beat(self) -> None:
        while True:
            try:
                self._beat_once(self._trial_id)
            except Exception:  # a missed beat is harmless; the next one retries
                pass
            if self._stop.wait(self._interval):
                return

    def __enter__(self) -> "Heartbeat":
        if self._interval:
            self._storage.record_heartbeat(self._trial_id)  # retried: the stale check needs a first beat
            self._thread = threading.Thread(target=self._beat, daemon=True, name="tipsd-heartbeat")
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def orphan_trial_ids(storage, study_id: int) -> list[int]:
    """Ids of the study's RUNNING trials that have no heartbeat at all (`storage`: an RDBStorage)."""
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session
    from optuna.trial import TrialState

    with _create_scoped_session(storage.scoped_session) as session:
        rows = (session.query(models.TrialModel.trial_id)
                .outerjoin(models.TrialHeartbeatModel,
                           models.TrialHeartbeatModel.trial_id == models.TrialModel.trial_id)
                .filter(models.TrialModel.study_id == study_id,
                        models.TrialModel.state == TrialState.RUNNING,
                        models.TrialHeartbeatModel.trial_id.is_(None))
                .all())
    return [int(r[0]) for r in rows]


def silent_running(storage, study_id: int, grace_s: float) -> int:
    """How many of the study's RUNNING trials have had no heartbeat for over `grace_s` seconds, or
    none at all (by the database's clock): their workers are gone, and the next `tipsd run` fails
    them and re-runs their jobs. Reads only."""
    from datetime import timedelta

    import sqlalchemy
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session
    from optuna.trial import TrialState

    with _create_scoped_session(storage.scoped_session) as session:
        now = session.execute(sqlalchemy.func.now()).scalar().replace(tzinfo=None)
        rows = (session.query(models.TrialHeartbeatModel.heartbeat)
                .select_from(models.TrialModel)
                .outerjoin(models.TrialHeartbeatModel,
                           models.TrialHeartbeatModel.trial_id == models.TrialModel.trial_id)
                .filter(models.TrialModel.study_id == study_id, models.TrialModel.state == TrialState.RUNNING)
                .all())
    return sum(1 for (beat,) in rows if beat is None or now - beat > timedelta(seconds=grace_s))


def fail_stale(study, storage) -> None:
    """Fail the trials of dead workers: give each RUNNING trial without any heartbeat its first beat
    (so it can go stale), then fail every trial silent for ``grace_s`` (Optuna's check).

    Right after this process saw the storage come back from an outage it waits one heartbeat
    interval first, so that live workers, whose beats failed during the outage, beat again before
    their trials are judged.

    Example:
        >>> fail_stale(study, storage)  # doctest: +SKIP
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    interval = storage.get_heartbeat_interval()
    if not interval:
        return
    recovered = getattr(storage, "recovered_at", None)
    if recovered is not None and time.monotonic() - recovered < interval + 2:
        return
    retry = getattr(storage, "_retry", None)
    find = (lambda: retry("orphan_trial_ids", lambda self, sid: orphan_trial_ids(self, sid), study._study_id)) \
        if retry is not None else (lambda: orphan_trial_ids(storage, study._study_id))
    for trial_id in find():
        storage.record_heartbeat(trial_id)
    # Optuna's fail_stale_trials, plus the reason: the attribute goes first (a finished trial takes
    # no more attributes), and a trial another worker failed meanwhile is left as it is.
    grace = storage.grace_period or 2 * interval
    for trial_id in storage._get_stale_trial_ids(study._study_id):
        with contextlib.suppress(UpdateFinishedTrialError):
            storage.set_trial_user_attr(trial_id, LOST_REASON, lost_reason(grace))
            storage.set_trial_state_values(trial_id, state=TrialState.FAIL)


def lost_reason(grace_s: float) -> str:
    """What is known of a trial failed by the heartbeat check: its worker stopped beating, not why.

    Example:
        >>> lost_reason(30)
        'worker died (no heartbeat for over 30 s; killed or crashed)'
    """
    return f"worker died (no heartbeat for over {grace_s:g} s; killed or crashed)"


__all__ = ["LOST_REASON", "Heartbeat", "fail_stale", "lost_reason", "orphan_trial_ids", "silent_running"]
