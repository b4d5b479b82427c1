"""`tipsd dashboard`: optuna-dashboard on the study storage, with notes and the artifact store."""
from __future__ import annotations

import json
import socket
import sys

from tipsd.model.errors import TipsdError
from tipsd.model.record import masked_url


class DashboardError(TipsdError):
    """The dashboard cannot start (the address cannot be bound)."""


# What each view answers (docs/sweep.md, "Which view answers which question")
VIEWS = ("This study has one trial per (cell, seed): its best trial is one seed's run. Study `{cells}` has one "
         "trial per cell (value = seed mean): its best, history, importance and parallel coordinates are what "
         "`tipsd table` and `tipsd importance` conclude from.")


def study_note(user_attrs: dict, summary: str = "") -> str:
    """The markdown note of a tipsd study: its description, which view answers what, `summary` (the
    table and the signal line, `summary_markdown`) and its spec.

    Example:
        >>> study_note({"tipsd.description": "Table I", "tipsd.spec": {"name": "t"}}).splitlines()[0]
        'Table I'
    """
    from tipsd.sweep.companion import companion_name

    spec = user_attrs.get("tipsd.spec", {})
    if isinstance(spec, dict) and "storage" in spec:  # stored by an older tipsd; may hold a password
        spec = {**spec, "storage": masked_url(spec["storage"])}
    name = spec.get("name", "") if isinstance(spec, dict) else ""
    return (f"{user_attrs.get('tipsd.description', '')}\n\n"
            + (VIEWS.format(cells=companion_name(name)) + "\n\n" if name else "")
            + (f"{summary}\n\n" if summary else "")
            + f"tipsd {user_attrs.get('tipsd.version', '?')}, spec sha256 {user_attrs.get('tipsd.spec_hash', '?')[:12]}\n\n"
            f"```json\n{json.dumps(spec, indent=2, sort_keys=True)}\n```\n")


def summary_markdown(storage, name: str) -> str:
    """`tipsd table`'s Markdown of study `name` with its partial-study and signal lines (values to one
    decimal): a Bayesian study's settings ranked by mean, a grid in the paper's layout; "" when it has no
    finished run or a grid has no paper layout (e.g. four weights vary)."""
    import optuna

    from tipsd.analysis.footers import progress_line, signal_text, study_plan
    from tipsd.analysis.runs import AnalysisError, load_runs
    from tipsd.analysis.settings import is_sampled, ranked_settings, render_settings
    from tipsd.analysis.tables import build_table, render_table

    runs = load_runs(storage, name)
    if not len(runs):
        return ""
    study = optuna.load_study(study_name=name, storage=storage)
    plan = study_plan(study.user_attrs)
    higher = study.direction == optuna.study.StudyDirection.MAXIMIZE
    lines = [progress_line(plan, runs), signal_text(runs, "value", higher_is_better=higher).footer]
    sampler = is_sampled(study.user_attrs)
    if sampler:  # a Bayesian study's settings are no grid: ranked, as `tipsd table` shows them
        body = render_settings(ranked_settings(runs, "value", higher=higher), "markdown", decimals=1,
                               sampler=sampler, limit=20)
        return body + "".join(f"\n{line}\n" for line in lines if line)
    try:
        table = build_table(runs, metric="value", grid=plan.grid, higher_is_better=higher)
    except AnalysisError:
        return ""
    return render_table(table, "markdown", decimals=1) + "".join(f"\n{line}\n" for line in lines if line)


def annotate(storage) -> int:
    """Give every tipsd study in `storage` its note (table, signal, spec) and metric name, and bring its
    companion study of cells up to date (`sweep.companion`); returns how many were annotated."""
    import optuna
    from optuna_dashboard import save_note

    from tipsd.sweep.companion import companion_name, sync_companion

    n = 0
    for name in optuna.get_all_study_names(storage):
        study = optuna.load_study(study_name=name, storage=storage)
        if "tipsd.spec" not in study.user_attrs:
            continue
        summary = summary_markdown(storage, name)
        save_note(study, study_note(study.user_attrs, summary))
        if not study.metric_names:
            study.set_metric_names([study.user_attrs.get("tipsd.metric", "Total")])
        sync_companion(storage, study)
        if companion_name(name) in optuna.get_all_study_names(storage):
            cells = optuna.load_study(study_name=companion_name(name), storage=storage)
            save_note(cells, f"One trial per cell of study `{name}`: value = seed mean of "
                             f"{study.user_attrs.get('tipsd.metric', 'the metric')}; user attributes n, std, "
                             f"ci_low, ci_high (95 % t-interval), seeds.\n\n{summary}\n")
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
