"""Where a study's artifacts (report figures) live, so `tipsd report` and `tipsd dashboard` agree.

Convention: for a SQLite storage ``sqlite:///DIR/NAME.db`` the artifact folder is ``DIR/NAME-artifacts``;
for any other storage (PostgreSQL, in-memory) it is ``./tipsd-artifacts``. Both commands take
``--artifact-dir`` to override it.
"""
from __future__ import annotations

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


def replace_study_artifact(store, study, path: str | Path) -> str:
    """Upload `path` as an artifact of `study`, first removing the study's artifacts of the same file
    name, so that a rerun replaces a figure instead of adding a second copy; returns the new id.

    A removed artifact's metadata is set to JSON null, as optuna-dashboard's own delete does (the
    dashboard skips such entries).
    """
    import json

    from optuna.artifacts import upload_artifact
    from optuna.artifacts.exceptions import ArtifactNotFound

    storage, name = study._storage, Path(path).name
    for key, value in storage.get_study_system_attrs(study._study_id).items():
        meta = json.loads(value) if key.startswith("artifacts:") and isinstance(value, str) else None
        if isinstance(meta, dict) and meta.get("filename") == name:
            try:
                store.remove(meta["artifact_id"])
            except ArtifactNotFound:
                pass
            storage.set_study_system_attr(study._study_id, key, json.dumps(None))
    return upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=study)
