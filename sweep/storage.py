"""Open Optuna storage and create or resume a tipsd study in it.

The study records its spec (without the storage URL: it may hold a password), the spec's hash and
the tipsd version as user attributes (schema in docs/architecture.md). Resuming with a spec that
computes something else is refused, naming each changed field.

Storage that a run writes to is opened by `open_storage` as a `retrying storage`: every storage
operation that fails because the database cannot be reached (a server restart, a dropped
connection, a lock held too long) is retried with backoff until ``[run] storage_retry_s`` seconds of
outage have passed, then `StorageUnavailable` ends the worker with one line. Readers (`tipsd status`
and the analysis commands) open storage read-only (`tipsd.analysis.readonly`) and never write.
URLs are printed and put in messages only through `shown` (password masked).
"""
from __future__ import annotations

import logging
import os
import sqlite3
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Callable

from tipsd.analysis.readonly import root_reason as reason_of, unusable_sqlite
from tipsd.model.errors import TipsdError
from tipsd.model.record import DEFAULT_STORAGE, masked_url, sqlite_path, url_password
from tipsd.sweep.pruners import build_pruner
from tipsd.sweep.samplers import study_sampler
from tipsd.sweep.spec import StudySpec, spec_diff, spec_identity, spec_hash, stored_spec

# Seconds a SQLite writer waits for the lock before "database is locked"; trials write rarely,
# so a long wait is harmless and several local workers never fail on contention.
SQLITE_TIMEOUT_S = 120
# Seconds between the first retries of a storage operation during an outage (doubling up to MAX).
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 5.0
# Passwords of the storage URLs this process was given; the CLI masks them in any message.
SECRETS: set[str] = set()


class StorageError(TipsdError):
    """The storage URL is malformed, the database cannot be reached, or it holds another spec."""


class StorageUnavailable(StorageError):
    """The storage stayed unreachable for longer than ``[run] storage_retry_s`` during a run."""


def shown(url: str) -> str:
    """`url` as tipsd prints it (password masked); remembers the password so no message shows it."""
    password = url_password(url)
    if password:
        SECRETS.add(password)
    return masked_url(url)


def quiet_optuna() -> None:
    """Silence Optuna's per-trial INFO logs and experimental warnings (tipsd prints its own lines)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # tipsd uses ask/tell and records the heartbeat itself (tipsd.sweep.heartbeat), so this is moot.
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    logging.getLogger("sqlalchemy").setLevel(logging.ERROR)


def resolve_url(cli_url: str | None, spec: StudySpec | None = None) -> str:
    """Pick the storage URL: ``--storage``, else the study file's ``storage``, else `DEFAULT_STORAGE`."""
    url = cli_url or (spec.storage if spec is not None and spec.storage else DEFAULT_STORAGE)
    shown(url)
    return url


def open_storage(url: str, *, heartbeat_s: int | None = None, grace_s: int | None = None,
                 create: bool = True, readonly: bool = False, retry_s: float = 0):
    """Connect to `url` and return an `optuna.storages.RDBStorage`.

    Args:
        url: any SQLAlchemy URL Optuna accepts (``sqlite:///x.db``, ``postgresql+psycopg://...``).
        heartbeat_s: heartbeat interval of running trials (None: no heartbeat, e.g. for `status`).
        grace_s: seconds without a heartbeat after which a running trial is failed as stale.
        create: if False, a SQLite file that does not exist is an error instead of being created.
        readonly: open for reading only (`tipsd.analysis.readonly`): nothing is ever written, so a
            read-only file or folder works.
        retry_s: seconds of outage every storage operation rides out (retried with backoff) before
            `StorageUnavailable`; 0 = fail at once.

    Returns:
        The storage. Raises `StorageError` (one line, password masked) if it cannot be reached;
        connecting is not retried (a wrong URL should fail now, not in minutes).

    Example:
        >>> open_storage("sqlite:///tipsd.db", heartbeat_s=10, grace_s=30)  # doctest: +SKIP
    """
    import optuna
    import sqlalchemy.exc

    quiet_optuna()
    if readonly:
        from tipsd.analysis.readonly import ReadError, open_readonly

        try:
            return open_readonly(url)
        except ReadError as err:
            raise StorageError(str(err)) from None
    kwargs: dict[str, Any] = {}
    path = sqlite_path(url)
    if path is not None:
        db = Path(path)
        if not db.parent.exists():
            raise StorageError(f"storage {shown(url)!r}: folder {str(db.parent)!r} does not exist")
        if not create and not db.exists():
            raise StorageError(f"storage {shown(url)!r}: no such database file {str(db.resolve())!r}")
        if not os.access(db.parent, os.W_OK) or (db.exists() and not os.access(db, os.W_OK)):
            raise StorageError(f"storage {shown(url)!r} is read-only; this command writes to it "
                               "(copy the file to a writable folder; the analysis commands can read it as it is)")
        _check_and_enable_wal(db, url)
    if url.startswith("sqlite:"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}}
    elif url.startswith("postgresql"):
        # A dead server should fail fast, not hang the CLI; a restarted one must not leave dead
        # connections in the pool.
        kwargs["engine_kwargs"] = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    cls = retrying_storage_class()
    for attempt in range(5):
        try:
            storage = cls(url, heartbeat_interval=heartbeat_s, grace_period=grace_s, **kwargs)
            storage.retry_s = float(retry_s)
            storage.shown_url = shown(url)
            return storage
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as err:
            # Workers started together on an empty database race to create Optuna's tables
            # (PostgreSQL: duplicate key in pg_type); the loser retries once the winner is done.
            if attempt == 4:
                raise StorageError(f"storage {shown(url)!r}: cannot create Optuna's tables: {reason_of(err)}") from None
            time.sleep(0.5 * (attempt + 1))
        except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError, sqlite3.Error,
                ImportError, ValueError, OSError) as err:
            raise StorageError(f"storage {shown(url)!r} is unreachable: {reason_of(err)}") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _check_and_enable_wal(db: Path, url: str) -> None:
    """Check that an existing SQLite file is an intact database, then switch it to WAL journaling (so
    readers never block writers). Nothing is written to a damaged file, or to one already in WAL mode."""
    try:
        con = sqlite3.connect(str(db), timeout=SQLITE_TIMEOUT_S)
        try:
            if db.exists() and db.stat().st_size > 0:
                problems = [r[0] for r in con.execute("PRAGMA quick_check(3)").fetchall()]
                if problems != ["ok"]:
                    raise StorageError(unusable_sqlite(db, f"damaged, SQLite quick_check: {'; '.join(problems)[:200]}"))
            if con.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                con.execute("PRAGMA journal_mode=WAL")
        finally:
            con.close()
    except sqlite3.OperationalError as err:
        raise StorageError(f"storage {shown(url)!r} is unreachable: {err}") from None
    except sqlite3.DatabaseError as err:  # the file's content, not access to it
        raise StorageError(unusable_sqlite(db, str(err))) from None


# ---- retrying storage: ride out outages for [run] storage_retry_s ----------------------------------

# The storage methods a run calls (directly or through Optuna's cache); each is retried on outage.
RETRIED_METHODS = (
    "create_new_study", "delete_study", "set_study_user_attr", "set_study_system_attr",
    "get_study_id_from_name", "get_study_name_from_id", "get_study_directions", "get_study_user_attrs",
    "get_study_system_attrs", "get_all_studies", "create_new_trial", "_create_new_trial", "set_trial_param",
    "_set_trial_param", "get_trial_id_from_study_id_trial_number", "get_trial_number_from_id",
    "get_trial_param", "set_trial_state_values", "set_trial_intermediate_value", "set_trial_user_attr",
    "set_trial_system_attr", "get_trial", "get_all_trials", "_get_trials", "get_n_trials", "get_best_trial",
    "_get_best_trial_id", "record_heartbeat", "_get_stale_trial_ids",
)


def is_transient(err: BaseException) -> bool:
    """Whether `err` means "the database cannot be reached right now" (worth retrying), not bad data.

    True for connection-level errors anywhere in the cause chain: SQLAlchemy ``OperationalError``,
    ``InterfaceError``, ``DisconnectionError``, a pool timeout, an invalidated connection, psycopg's
    ``OperationalError``, and SQLite's "database is locked/busy".
    """
    import sqlalchemy.exc

    seen: set[int] = set()
    todo: list[BaseException | None] = [err]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, sqlite3.OperationalError):
            text = str(e).lower()
            if "locked" in text or "busy" in text:
                return True
        elif isinstance(e, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
                            sqlalchemy.exc.DisconnectionError, sqlalchemy.exc.TimeoutError)):
            if not isinstance(getattr(e, "orig", None), sqlite3.OperationalError):
                return True
        elif isinstance(e, sqlalchemy.exc.DBAPIError) and e.connection_invalidated:
            return True
        elif type(e).__module__.startswith("psycopg") and type(e).__name__ in (
                "OperationalError", "InterfaceError", "AdminShutdown", "CannotConnectNow", "ConnectionTimeout"):
            return True
        todo += [getattr(e, "orig", None), e.__cause__, e.__context__]
    return False


_RETRYING_CLASS: list[type] = []


def retrying_storage_class() -> type:
    """`optuna.storages.RDBStorage` with every method of `RETRIED_METHODS` retried through outages.

    Attributes of an instance: ``retry_s`` (seconds of outage tolerated), ``shown_url`` (masked URL
    for messages), ``recovered_at`` (``time.monotonic()`` when the last outage ended, or None),
    ``notify`` (prints a line when an outage starts and ends; stderr by default).
    """
    if _RETRYING_CLASS:
        return _RETRYING_CLASS[0]
    import optuna
    from optuna.exceptions import UpdateFinishedTrialError

    class RetryingRDBStorage(optuna.storages.RDBStorage):
        retry_s: float = 0.0
        shown_url: str = ""
        recovered_at: float | None = None
        _down_since: float | None = None
        _lock = threading.Lock()

        @staticmethod
        def notify(line: str) -> None:
            print(line, file=sys.stderr, flush=True)

        def beat_once(self, trial_id: int) -> None:
            """One heartbeat, not retried (the heartbeat thread beats again soon anyway)."""
            optuna.storages.RDBStorage.record_heartbeat(self, trial_id)

        def _retry(self, name: str, method: Callable, *args, **kwargs):
            from tipsd.sweep.interrupts import stop_requested

            delay, retried = RETRY_FIRST_S, False
            while True:
                try:
                    result = method(self, *args, **kwargs)
                except UpdateFinishedTrialError:
                    # A state change retried after its first try was committed (the reply was lost):
                    # the trial already holds the state we set.
                    if retried and name == "set_trial_state_values" and \
                            self.get_trial(args[0]).state == kwargs.get("state", args[1] if len(args) > 1 else None):
                        return True
                    raise
                except Exception as err:
                    if self.retry_s <= 0 or not is_transient(err):
                        raise
                    now = time.monotonic()
                    with self._lock:
                        if self._down_since is None:
                            self._down_since = now
                            self.notify(f"tipsd: storage {self.shown_url} unreachable ({reason_of(err)}); "
                                        f"retrying for up to {self.retry_s:g} s")
                        down_since = self._down_since
                    if now - down_since >= self.retry_s or stop_requested():
                        raise StorageUnavailable(
                            f"storage {self.shown_url} unreachable for {now - down_since:.0f} s "
                            f"(run.storage_retry_s = {self.retry_s:g}): {reason_of(err)}; finished runs are "
                            "stored, a run in progress is redone by the next `tipsd run`") from None
                    time.sleep(min(delay, max(0.05, down_since + self.retry_s - now)))
                    delay, retried = min(2 * delay, RETRY_MAX_S), True
                    continue
                if self._down_since is not None:
                    with self._lock:
                        if self._down_since is not None:
                            self.notify(f"tipsd: storage {self.shown_url} reachable again after "
                                        f"{time.monotonic() - self._down_since:.0f} s")
                            self._down_since, self.recovered_at = None, time.monotonic()
                return result

    def wrap(name: str, method: Callable) -> Callable:
        def retried(self, *args, **kwargs):
            return self._retry(name, method, *args, **kwargs)

        retried.__name__ = retried.__qualname__ = name
        retried.__doc__ = method.__doc__
        return retried

    for name in RETRIED_METHODS:
        method = getattr(optuna.storages.RDBStorage, name, None)
        if method is not None:
            setattr(RetryingRDBStorage, name, wrap(name, method))
    _RETRYING_CLASS.append(RetryingRDBStorage)
    return RetryingRDBStorage


# ---- the study ---------------------------------------------------------------------------------------

def study_attrs(spec: StudySpec, version: str) -> dict[str, Any]:
    """The study-level user attributes tipsd writes (schema in docs/architecture.md)."""
    return {
        "tipsd.spec": stored_spec(spec.raw),
        "tipsd.spec_hash": spec_hash(spec.raw),
        "tipsd.version": version,
        "tipsd.description": spec.description,
        "tipsd.metric": spec.metric,
        "tipsd.direction": spec.direction,
        "tipsd.sampler": spec.sampler,
    }


def study_exists(storage, name: str) -> bool:
    """Whether `storage` already holds a study called `name`."""
    import optuna

    return name in optuna.get_all_study_names(storage)


def create_or_resume(spec: StudySpec, storage, version: str):
    """Create the spec's study in `storage`, or load it if it exists and its spec is unchanged.

    Args:
        spec: the validated study spec.
        storage: an RDBStorage from `open_storage`.
        version: the tipsd version to record.

    Returns:
        The `optuna.Study`, with the spec's sampler and pruner. Raises `StorageError` if the stored
        study was made from a different spec.

    Example:
        >>> study = create_or_resume(load_spec("studies/smoke.toml"), open_storage(url), "0.1.0")  # doctest: +SKIP
    """
    import optuna

    sampler, pruner = study_sampler(spec), build_pruner(spec.pruner)
    try:
        study = optuna.load_study(study_name=spec.name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        study = None
    if study is not None and "tipsd.spec_hash" in study.user_attrs:
        return _resumed(spec, study)
    if study is None:
        try:
            study = optuna.create_study(study_name=spec.name, storage=storage, sampler=sampler,
                                        pruner=pruner, direction=spec.direction)
        except optuna.exceptions.DuplicatedStudyError:  # another machine created it just now
            study = optuna.load_study(study_name=spec.name, storage=storage, sampler=sampler, pruner=pruner)
            if "tipsd.spec_hash" in study.user_attrs:
                return _resumed(spec, study)
    elif study.trials:
        raise StorageError(f"study {spec.name!r} exists in the storage but was not made by tipsd; "
                           "pick another name in the study file")
    for key, value in study_attrs(spec, version).items():
        study.set_user_attr(key, value)
    study.set_metric_names([spec.metric])
    return study


def _resumed(spec: StudySpec, study):
    """Check that the stored study was made from `spec`; drop a storage URL that an older tipsd
    stored in the spec attribute (it may hold a password)."""
    check_unchanged(spec, study)
    stored = study.user_attrs.get("tipsd.spec", {})
    if isinstance(stored, dict) and "storage" in stored:
        study.set_user_attr("tipsd.spec", stored_spec(stored))
    return study


def check_unchanged(spec: StudySpec, study) -> None:
    """Raise `StorageError` if `study` was created from a spec that computes something else than `spec`.

    Equal values written differently (``1`` and ``1.0``) are the same spec; each changed field is named.
    """
    stored = study.user_attrs.get("tipsd.spec_hash")
    if stored == spec_hash(spec.raw):
        return
    old = study.user_attrs.get("tipsd.spec", {})
    if isinstance(old, dict) and spec_identity(old) == spec_identity(spec.raw):
        return  # hashed by an older tipsd that told 1 from 1.0
    what = spec_diff(old if isinstance(old, dict) else {}, spec.raw) or "its stored spec is unreadable"
    raise StorageError(
        f"study {spec.name!r} already exists with a different spec ({what}); to start a new study "
        f"instead, change name in {spec.path} (e.g. name = \"{spec.name}-v2\") or use another --storage")
