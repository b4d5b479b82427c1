"""`tipsd dashboard`: optuna-dashboard on the study storage, with notes and the artifact store."""
from __future__ import annotations

import json


def study_note(user_attrs: dict) -> str:
    """The markdown note of a tipsd study: its description and its spec.

    Example:
        >>> study_note({"tipsd.description": "Table I", "tipsd.spec": {"name": "t"}}).splitlines()[0]
        'Table I'
    """
    spec = user_attrs.get("tipsd.spec", {})
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
    from tipsd.sweep.storage import open_storage

    storage = open_storage(storage_url, create=False)
    annotate(storage)
    store = artifact_store(storage_url, artifact_dir)
    print(f"optuna-dashboard on http://{host}:{port}/ (storage {storage_url}); Ctrl-C to stop", flush=True)
    run_server(storage, host=host, port=port, artifact_store=store)
