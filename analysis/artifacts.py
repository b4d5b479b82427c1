"""Where a study's artifacts (report figures) live, so `tipsd report` and `tipsd dashboard` agree.

Convention: for a SQLite storage ``sqlite:///DIR/NAME.db`` the artifact folder is ``DIR/NAME-artifacts``;
for any other storage (PostgreSQL, in-memory) it is ``./tipsd-artifacts``. Both commands take
``--artifact-dir`` to override it.
"""
from __future__ import annotations

import json
from pathlib import Path

from tipsd.model.record import sqlite_path


def default_artifact_dir(storage_url: str) -> Path:
    """The artifact folder that belongs to `storage_url` (see the module docstring).

    Example:
        >>> default_artifact_dir("sqlite:///runs/tipsd.db").as_posix()
        'runs/tipsd-artifacts'
    """
    path = sqlite_path(storage_url)
    if path is None:
        return Path("tipsd-artifacts")
    db = Path(path)
    return db.with_name(db.stem + "-artifacts")


def artifact_store(storage_url: str, artifact_dir: str | Path | None = None):
    """An `optuna.artifacts.FileSystemArtifactStore` for `storage_url` (folder created if missing)."""
    from optuna.artifacts import FileSystemArtifactStore

    path = Path(artifact_dir) if artifact_dir else default_artifact_dir(storage_url)
    path.mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(str(path))


def upload_or_replace(store, file_path: str | Path, study) -> str:
    """Upload `file_path` as an artifact of `study`, or, when the study already has an artifact of
    that file name (an earlier `tipsd report`), overwrite its content under the same id.

    Re-running a report thus leaves one artifact per figure. Replacing in place, not deleting and
    re-uploading: Optuna 5 has no API to delete an artifact's record, and the record optuna-dashboard
    leaves when it deletes one (JSON null) breaks `optuna.artifacts.get_all_artifact_meta`; a figure
    deleted in the dashboard is uploaded again.

    Returns:
        The artifact id.

    Example:
        >>> upload_or_replace(artifact_store("sqlite:///tipsd.db"), "heatmap.png", study)  # doctest: +SKIP
        'b0c7…'
    """
    from optuna.artifacts import upload_artifact

    path = Path(file_path)
    for artifact_id, filename in _study_artifacts(study):
        if filename == path.name:
            with path.open("rb") as stream:
                store.write(artifact_id, stream)
            return artifact_id
    return upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=study)


def _study_artifacts(study) -> list[tuple[str, str]]:
    """(artifact id, file name) of the study's artifacts. Read from the study's system attributes
    (where Optuna records them) rather than with `get_all_artifact_meta`, which fails on the JSON
    null that optuna-dashboard leaves for an artifact deleted in its page."""
    out = []
    for key, value in study._storage.get_study_system_attrs(study._study_id).items():
        meta = json.loads(value) if key.startswith("artifacts:") and isinstance(value, str) else None
        if isinstance(meta, dict) and "artifact_id" in meta:
            out.append((meta["artifact_id"], meta.get("filename", "")))
    return out
