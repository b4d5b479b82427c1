"""The companion study of cell aggregates that optuna-dashboard shows beside each tipsd study.

A tipsd study holds one trial per (cell, seed), so optuna-dashboard's "best trial", history,
importance and parallel-coordinate plots over it are about single runs: one seed's lucky value is
its best. tipsd concludes over cells (the seed mean), so beside study ``NAME`` it keeps
``NAME.cells``: one COMPLETE trial per cell whose value is the seed mean of the study's metric
(rounded to 2 decimals) and whose user attributes hold ``n``, ``std``, ``ci_low``, ``ci_high``
(95 % t-interval, `tipsd.analysis.runs.aggregate_cells`) and ``seeds``.

Finished trials cannot be changed in Optuna, so the companion is rebuilt (deleted and created again)
whenever the cells' (n, mean) changed, and left alone otherwise; like `sweep.jobs.ledger`, it is
derived from what is stored, never remembered. `tipsd run` syncs it after every finished run and at
the end (from a thread, `BackgroundSync`), `tipsd dashboard` when it starts. A sync that loses a race with another machine's sync
(both rebuilding at once) gives up quietly: the next one catches up.
"""
from __future__ import annotations

import hashlib
import json
import threading
import warnings
from typing import Any

from tipsd.analysis.runs import COMPANION_OF  # companion study attribute: the study it aggregates
from tipsd.model.record import GAMMA_NAMES

SUFFIX = ".cells"  # the companion of study NAME is NAME.cells
SIGNATURE = "tipsd.cells_signature"  # companion study attribute: hash of the cells' (n, mean)


def companion_name(name: str) -> str:
    """``"table1"`` → ``"table1.cells"``."""
    return name + SUFFIX


def is_companion(user_attrs: dict) -> bool:
    """Whether a study (by its user attributes) is a companion of cell aggregates."""
    return COMPANION_OF in user_attrs


def cell_frame(study):
    """The cells of `study` as `aggregate_cells` computes them (seed mean, std, n, CI, seeds) over its
    finished runs (COMPLETE, duplicate claims left out); an empty frame when none has finished."""
    import pandas as pd
    from optuna.trial import TrialState

    from tipsd.analysis.runs import aggregate_cells

    rows = [{**{g: t.user_attrs.get(g) for g in GAMMA_NAMES}, "seed": t.user_attrs.get("seed"), "value": t.value}
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if "duplicate_of" not in t.user_attrs and t.value is not None]
    if not rows:
        return pd.DataFrame()
    return aggregate_cells(pd.DataFrame(rows), "value", by=list(GAMMA_NAMES))


def _rounded(v: Any, digits: int = 3):
    return None if v is None or v != v else round(float(v), digits)  # v != v: NaN (JSON has none)


def companion_trials(cells, searched: list[str]) -> list:
    """One COMPLETE `FrozenTrial` per row of `cells` (`cell_frame`): params the `searched` weights
    (a float distribution over the values the cells have), value the seed mean to 2 decimals."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    dists = {}
    for g in searched:
        low, high = float(cells[g].min()), float(cells[g].max())
        dists[g] = FloatDistribution(low, high) if low < high else CategoricalDistribution((low,))
    out = []
    for rec in cells.to_dict("records"):
        attrs = {g: float(rec[g]) for g in GAMMA_NAMES}
        attrs.update(n=int(rec["n"]), mean=_rounded(rec["mean"], 4), std=_rounded(rec["std"]),
                     ci_low=_rounded(rec["ci_low"]), ci_high=_rounded(rec["ci_high"]),
                     seeds=[int(s) for s in rec["seeds"]])
        out.append(optuna.trial.create_trial(
            params={g: float(rec[g]) for g in searched}, distributions=dists, value=round(float(rec["mean"]), 2),
            user_attrs=attrs, state=optuna.trial.TrialState.COMPLETE))
    return out


def _signature(cells) -> str:
    if not len(cells):
        return ""
    key = cells[[*GAMMA_NAMES, "n", "mean"]].round(6).to_numpy().tolist()
    return hashlib.sha256(json.dumps(key).encode()).hexdigest()


def sync_quietly(storage, study) -> None:
    """`sync_companion`, with any error ignored: the companion is a view, and a run must not fail
    because a view could not be written (the next sync rewrites it)."""
    try:
        sync_companion(storage, study)
    except Exception:  # noqa: BLE001 - see the docstring
        pass


def sync_companion(storage, study) -> bool:
    """Rebuild `study`'s companion in `storage` if its cells changed; True when it was rewritten.

    Args:
        storage: the Optuna storage object (or URL) the study lives in.
        study: the tipsd study (an `optuna.Study`).

    Returns:
        True if the companion was (re)written, False if it was current, the study has no finished
        run, or another process was rebuilding it at the same moment.

    Example:
        >>> sync_companion(storage, optuna.load_study(study_name="table1", storage=storage))  # doctest: +SKIP
        True
    """
    import optuna

    from tipsd.analysis.footers import study_plan

    cells = cell_frame(study)
    if not len(cells):
        return False
    name, sig = companion_name(study.study_name), _signature(cells)
    try:
        old = optuna.load_study(study_name=name, storage=storage)
    except KeyError:  # no companion yet
        old = None
    if old is not None:
        if old.user_attrs.get(SIGNATURE) == sig:
            return False
        try:
            optuna.delete_study(study_name=name, storage=storage)
        except KeyError:  # another process deleted it first
            pass
    attrs = study.user_attrs
    searched = study_plan(attrs).searched or [g for g in GAMMA_NAMES if cells[g].nunique() > 1]
    metric = attrs.get("tipsd.metric", "value")
    try:
        comp = optuna.create_study(study_name=name, storage=storage, direction=study.direction)
    except optuna.exceptions.DuplicatedStudyError:  # another process rebuilt it first
        return False
    for key, value in {COMPANION_OF: study.study_name, "tipsd.metric": metric,
                       "tipsd.description": f"cells of {study.study_name}: one trial per cell, "
                                            f"value = seed mean of {metric}"}.items():
        comp.set_user_attr(key, value)
    with warnings.catch_warnings():  # set_metric_names is "experimental" in Optuna
        warnings.simplefilter("ignore")
        comp.set_metric_names([f"{metric} (seed mean)"])
    comp.add_trials(companion_trials(cells, searched))
    comp.set_user_attr(SIGNATURE, sig)  # last: a rebuild cut short is rebuilt by the next sync
    return True


class BackgroundSync:
    """Keeps `study`'s companion current from a thread of the `tipsd run` parent, so training never
    waits for it (a rebuild of 64 cells took 4 s on this loaded 2-core machine, SQLite; docs/sweep.md).

    `request()` after each finished run; requests that arrive during a sync are coalesced into one
    more sync. `close()` runs a last sync and waits for it; `close(wait=False)` (after Ctrl-C) does not.

    Example:
        >>> sync = BackgroundSync(storage, study); sync.request(); sync.close()  # doctest: +SKIP
    """

    def __init__(self, storage, study):
        self._storage, self._study = storage, study
        self._want, self._final = threading.Event(), False
        self._thread = threading.Thread(target=self._run, daemon=True, name="tipsd-companion")
        self._thread.start()

    def request(self) -> None:
        """Ask for a sync (returns at once)."""
        self._want.set()

    def _run(self) -> None:
        while True:
            self._want.wait()
            self._want.clear()
            final = self._final  # read before the sync: a close() during it asks for one more
            sync_quietly(self._storage, self._study)
            if final:
                return

    def close(self, wait: bool = True) -> None:
        """A last sync (waited for when `wait`), then the thread ends."""
        self._final = True
        self._want.set()
        if wait:
            self._thread.join()
