"""Keep trained weights as Optuna artifacts of their trials (`[run] keep_weights`), for the figures.

Policies (`tipsd.sweep.spec.KEEP_WEIGHTS`; the default is filled in by `parse_spec`):

- ``"best-per-cell"`` (default for the tiny and quick presets): one weights file per cell, the
  COMPLETE trial with the best value (ties: the lower trial number);
- ``"all"``: every COMPLETE trial's;
- ``"none"`` (default for the paper preset, whose networks are large: opt in with "all" or
  "best-per-cell").

A kept file (`tipsd.model.weights.save_weights`: about 116 kB on tiny, 361 kB on quick, docs/sweep.md) is uploaded
with `optuna.artifacts.upload_artifact` to the trial before it is told COMPLETE (a finished trial
takes no new attributes), and its artifact id is written to the trial's `WEIGHTS_ARTIFACT` user
attribute. Best-per-cell decides twice: before the upload (is this run better than the cell's kept
one?) and after the tell (`prune_cell`: of the cell's kept files keep the best, remove the others'
files). The second pass makes parallel workers that finish the same cell together converge on one
file: the last to tell sees every kept file. A removed file's metadata stays on its finished trial
(Optuna cannot edit it); readers (`kept_weights`) skip trials whose file is gone.

The artifact folder is `tipsd.analysis.artifacts.default_artifact_dir` of the storage (next to a
SQLite file): with PostgreSQL and many machines each machine keeps its own trials' files there.
"""
from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

from tipsd.model.record import WEIGHTS_ARTIFACT
from tipsd.sweep.spec import StudySpec


def weights_store(spec: StudySpec, storage_url: str, artifact_dir: str | Path | None = None):
    """The artifact store of a study's kept weights, or None when it keeps none."""
    if spec.run.get("keep_weights", "none") == "none":
        return None
    from tipsd.analysis.artifacts import artifact_store

    return artifact_store(storage_url if isinstance(storage_url, str) else "", artifact_dir)


def artifact_exists(store, artifact_id: str) -> bool:
    """Whether `store` still holds `artifact_id`."""
    from optuna.artifacts.exceptions import ArtifactNotFound

    try:
        store.open_reader(artifact_id).close()
    except ArtifactNotFound:
        return False
    return True


def _better(a: float, b: float, direction: str) -> bool:
    return a > b if direction == "maximize" else a < b


def _wins(t, best, direction: str) -> bool:
    """Whether trial `t` beats `best` (None beats nothing): a better value, or equal and earlier."""
    return best is None or _better(t.value, best.value, direction) or (t.value == best.value and t.number < best.number)


def kept_weights(trials, store, direction: str, cell: str | None = None) -> dict[str, Any]:
    """``{cell: the best COMPLETE trial whose kept file exists}`` (`_wins`: best value, then lower number).

    Args:
        trials: the study's FrozenTrials. store: its weights store. direction: the study's.
        cell: only this cell.
    """
    out: dict[str, Any] = {}
    for t in trials:
        key = t.user_attrs.get("cell")
        if (t.state.name == "COMPLETE" and WEIGHTS_ARTIFACT in t.user_attrs and (cell is None or key == cell)
                and artifact_exists(store, t.user_attrs[WEIGHTS_ARTIFACT]) and _wins(t, out.get(key), direction)):
            out[key] = t
    return out


def keep(study, trial, spec: StudySpec, cell: str, value: float, weights: dict | None, config: dict,
         store) -> str | None:
    """Upload this RUNNING trial's weights if the policy keeps them; returns the artifact id or None.

    Call before ``study.tell``. Best-per-cell uploads only when no COMPLETE trial of the cell has a
    kept file with a value as good (`_better`, the study's direction).
    """
    policy = spec.run.get("keep_weights", "none")
    if store is None or weights is None or policy == "none" or not math.isfinite(value):
        return None
    if policy == "best-per-cell":
        best = _best_kept(study, cell, store, spec.direction)
        if best is not None and not _better(value, best.value, spec.direction):
            return None
    from optuna.artifacts import upload_artifact

    from tipsd.model.weights import save_weights

    with tempfile.TemporaryDirectory(prefix="tipsd-weights-") as tmp:
        path = save_weights(Path(tmp) / f"weights-trial{trial.number}.pt", config, weights)
        artifact_id = upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=trial)
    trial.set_user_attr(WEIGHTS_ARTIFACT, artifact_id)
    return artifact_id


def _best_kept(study, cell: str, store, direction: str):
    return kept_weights(study.get_trials(deepcopy=False), store, direction, cell).get(cell)


def prune_cell(study, spec: StudySpec, cell: str, store) -> list[int]:
    """Best-per-cell: remove the kept files of the cell's trials other than the best; returns
    the trial numbers whose files were removed (another worker removing one first is fine)."""
    from optuna.artifacts.exceptions import ArtifactNotFound

    if store is None or spec.run.get("keep_weights") != "best-per-cell":
        return []
    best = _best_kept(study, cell, store, spec.direction)
    removed = []
    for t in study.get_trials(deepcopy=False):
        if (best is not None and t.number != best.number and t.state.name == "COMPLETE"
                and t.user_attrs.get("cell") == cell and WEIGHTS_ARTIFACT in t.user_attrs):
            try:
                store.remove(t.user_attrs[WEIGHTS_ARTIFACT])
                removed.append(t.number)
            except ArtifactNotFound:
                pass
    return removed


__all__ = ["artifact_exists", "keep", "kept_weights", "prune_cell", "weights_store"]
