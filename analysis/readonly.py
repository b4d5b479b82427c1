"""Open a study storage for reading only, so that a read-only copy (file or folder) can be analysed.

Every reader (`tipsd status`, ``table``, ``compare``, ``heatmap``, ``importance``, ``report``,
``export``) opens storage through here and never writes to it: no WAL switch, no table creation, no
version row. A SQLite file is opened with SQLite's ``mode=ro``; a WAL-mode file in a folder where
its ``-shm`` index cannot be created (a read-only archive) is opened ``immutable=1``, which SQLite
allows exactly when nobody can be writing to it.
"""
from __future__ import annotations

import os
import sqlite3
import urllib.parse
from pathlib import Path
from typing import Any, Callable

from tipsd.model.errors import TipsdError
from tipsd.model.record import masked_url, sqlite_path

# Seconds a reader waits for a writer's lock (a live study being written by workers).
READ_TIMEOUT_S = 60


class ReadError(TipsdError):
    """A storage cannot be opened for reading (missing, damaged, or not an Optuna storage)."""


def sqlite_reader(path: str | Path) -> Callable[[], sqlite3.Connection]:
    """A connection factory that reads the SQLite file `path` and can never write to it.

    Tries ``mode=ro``, then ``mode=ro&immutable=1`` (a WAL file in a read-only folder).

    Example:
        >>> connect = sqlite_reader("tipsd.db")  # doctest: +SKIP
    """
    quoted = urllib.parse.quote(str(Path(path).resolve()))
    last: Exception | None = None
    for query in ("mode=ro", "mode=ro&immutable=1"):
        uri = f"file:{quoted}?{query}"
        try:
            con = sqlite3.connect(uri, uri=True, timeout=READ_TIMEOUT_S)
            try:
                con.execute("SELECT count(*) FROM sqlite_master").fetchone()
            finally:
                con.close()
        except sqlite3.Error as err:
            last = err
            continue
        return lambda uri=uri: sqlite3.connect(uri, uri=True, timeout=READ_TIMEOUT_S, check_same_thread=False)
    if isinstance(last, sqlite3.DatabaseError) and not isinstance(last, sqlite3.OperationalError):
        raise ReadError(unusable_sqlite(path, str(last)))  # the file's content, not access to it
    raise ReadError(f"storage file '{path}' cannot be read: {last}")


def unusable_sqlite(path: str | Path, reason: str) -> str:
    """The one line every storage-opening command gives for a SQLite file whose content SQLite refuses
    (a zeroed or foreign header: "file is not a database"; damaged pages: "malformed"): the file's
    absolute path, SQLite's reason, and what to do.

    Example:
        >>> unusable_sqlite("/data/t.db", "file is not a database")
        "storage file '/data/t.db' is not a usable SQLite database (file is not a database); restore it from a copy"
    """
    return f"storage file '{Path(path).resolve()}' is not a usable SQLite database ({reason}); restore it from a copy"


def reader_engine_kwargs(url: str) -> dict[str, Any]:
    """SQLAlchemy ``create_engine`` keyword arguments that open `url` for reading only."""
    path = sqlite_path(url)
    if path is not None:
        return {"creator": sqlite_reader(path)}
    if url.startswith("postgresql"):
        return {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    return {}


def open_readonly(url: str):
    """An `optuna.storages.RDBStorage` on `url` that only reads (no tables created, nothing written).

    A missing SQLite file, a file that is not a database, or a database without Optuna's tables is a
    `ReadError` (one line, password masked).

    Example:
        >>> storage = open_readonly("sqlite:///tipsd.db")  # doctest: +SKIP
    """
    import optuna
    import sqlalchemy.exc

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    shown = masked_url(url)
    path = sqlite_path(url)
    if path is not None and not Path(path).is_file():
        raise ReadError(f"storage {shown!r}: no such database file {str(Path(path).resolve())!r}")
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=reader_engine_kwargs(url), skip_table_creation=True)
    except ReadError:
        raise
    except (sqlalchemy.exc.SQLAlchemyError, sqlite3.Error, optuna.exceptions.StorageInternalError) as err:
        reason = root_reason(err)
        if path is not None and not _has_optuna_tables(path):
            reason = "not an Optuna storage (it has no Optuna tables)"
        raise ReadError(f"storage {shown!r} cannot be read: {reason}") from None
    except (ImportError, ValueError, OSError) as err:
        raise ReadError(f"storage {shown!r} is unreachable: {root_reason(err)}") from None


def is_writable(url: str) -> bool:
    """Whether this process may write to `url`: for a SQLite file, the file and its folder must be
    writable; any server storage is assumed writable (the server says otherwise)."""
    path = sqlite_path(url)
    if path is None:
        return True
    db = Path(path)
    return os.access(db, os.W_OK) and os.access(db.parent if str(db.parent) else Path("."), os.W_OK)


def _has_optuna_tables(path: str) -> bool:
    try:
        con = sqlite_reader(path)()
        try:
            names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            con.close()
    except (sqlite3.Error, ReadError):
        return True  # damaged or unreadable: the original reason says more
    return {"studies", "trials", "version_info"} <= names


def root_reason(err: BaseException) -> str:
    """The first line of the most specific cause of `err` (a driver's message, not Optuna's wrapper
    around it, which blames "exceeding max length" for any cause), password masked.

    Example:
        >>> try:
        ...     raise RuntimeError("wrapped") from OSError("connection refused to postgresql://u:pw@h/db")
        ... except RuntimeError as err:
        ...     root_reason(err)
        'connection refused to postgresql://u:***@h/db'
    """
    cause: BaseException = err
    for _ in range(10):
        deeper = getattr(cause, "orig", None) or cause.__cause__
        if deeper is None:
            break
        cause = deeper
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return masked_url(lines[0][:300]) if lines else type(cause).__name__


__all__ = ["ReadError", "is_writable", "open_readonly", "reader_engine_kwargs", "root_reason", "sqlite_reader"]
