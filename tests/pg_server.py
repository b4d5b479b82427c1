"""A throw-away PostgreSQL server for the suites that must stop and restart it (outages), the way
.ci/run starts one: initdb into a temporary folder, trust authentication, a port of its own.

Runs as the ``postgres`` user when this process is root (initdb refuses root). `available()` says
whether the PostgreSQL binaries are installed; the suites that need them skip otherwise.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def pg_bin() -> Path | None:
    """The newest installed PostgreSQL ``bin`` folder (Debian layout), or the one on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: [int(x) for x in p.split("/")[4].split(".")
                                                                                if x.isdigit()])
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


def available() -> bool:
    """Whether a throw-away server can be started here."""
    return pg_bin() is not None and (os.geteuid() != 0 or shutil.which("su") is not None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """One PostgreSQL cluster in a temporary folder on 127.0.0.1:`port`.

    Example:
        >>> with PgServer() as pg:  # doctest: +SKIP
        ...     pg.url, pg.stop(), pg.start()
    """

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.bin = pg_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="tipsd-pg-"))
        self.data = self.dir / "data"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, cmd: str) -> None:
        if os.geteuid() == 0:
            subprocess.run(["su", "postgres", "-c", cmd], check=True, capture_output=True, timeout=120)
        else:
            subprocess.run(["sh", "-c", cmd], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self._run(f"{self.bin}/initdb -D {self.data} -A trust -U postgres")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run(f"{self.bin}/pg_ctl -D {self.data} -o '-p {self.port} -k {self.dir} "
                  f"-c listen_addresses=127.0.0.1' -l {self.dir}/log -w start")

    def stop(self) -> None:
        """Stop the server (fast shutdown: open connections are cut, as in a restart)."""
        self._run(f"{self.bin}/pg_ctl -D {self.data} -m fast -w stop")

    def __enter__(self) -> "PgServer":
        self.init()
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.stop()
        except subprocess.SubprocessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)

