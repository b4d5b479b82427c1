"""`tipsd dashboard`: optuna-dashboard on the study storage, with notes and the artifact store."""
from __future__ import annotations

import json
import socket
import sys

from tipsd.model.errors import TipsdError
from tipsd.model.record import masked_url


class DashboardError(TipsdError):
    """The dashboard cannot start (the address cannot be bound)."""


def study_note(user_attrs: dict) -> str:
    """The markdown note of a tipsd study: its description and its spec.

    Example:
        >>> study_note({"tipsd.description": "Table I", "tipsd.spec": {"name": "t"}}).splitlines()[0]
        'Table I'
    """
    spec = user_attrs.get("tipsd.spec", {})
    if isinstance(spec, dict) and "storage" in spec:  # stored by an older tipsd; may hold a password
        spec = {**spec, "storage": masked_url(spec["storage"])}
    return (f"{user_attrs.get('tipsd.description', '')}\n\n"
            f"tipsd {user_attrs.get('tipsd.version', '?')}, spec sha256 {user_attrs.get('tipsd.spec_hash', '?')[:12]}\n\n"
            f"```json\n{json.dumps(spec, indent=2, sort_keys=True)}\n```\n")


def annotate(storage) -> int:
    """Give every tipsd study in `storage` its note and metric name; returns how many were annotated."""
    import optuna
    from optuna_dashboard import save_note

    n = 0
    for name in optuna.get_all_study_names(storage):
        study = optuna.load_study(study_name=name, storage=storage)
        if "tipsd.spec" not in study.user_attrs:
            continue
        save_note(study, study_note(study.user_attrs))
        if not study.metric_names:
            study.set_metric_names([study.user_attrs.get("tipsd.metric", "Total")])
        n += 1
    return n


def serve(storage_url: str, *, host: str = "127.0.0.1", port: int = 8080, artifact_dir: str | None = None) -> None:
    """Annotate the studies and run optuna-dashboard until interrupted (blocks).

    Args:
        storage_url: the Optuna storage URL the studies live in.
        host: address to bind; 127.0.0.1 unless the user asks for more.
        port: TCP port.
        artifact_dir: artifact folder (default `tipsd.analysis.artifacts.default_artifact_dir`).

    Example:
        >>> serve("sqlite:///tipsd.db", port=8080)  # doctest: +SKIP
    """
    from optuna_dashboard import run_server

    from tipsd.analysis.artifacts import artifact_store
    from tipsd.analysis.readonly import is_writable
    from tipsd.sweep.storage import open_storage, shown

    check_address(host, port)  # before anything is written
    writable = is_writable(storage_url)
    storage = open_storage(storage_url, create=False, readonly=not writable)
    store = artifact_store(storage_url, artifact_dir)
    if writable:
        annotate(storage)
    else:
        print(f"storage {shown(storage_url)} is read-only: study notes not written", file=sys.stderr, flush=True)
    print(f"optuna-dashboard on http://{host}:{port}/ (storage {shown(storage_url)}); Ctrl-C to stop", flush=True)
    run_server(storage, host=host, port=port, artifact_store=store)


def check_address(host: str, port: int) -> None:
    """Raise `DashboardError` (one line) if nothing can listen on ``host:port``."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OverflowError) as err:
        raise DashboardError(f"--host {host!r} --port {port}: {err}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as err:
            raise DashboardError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
