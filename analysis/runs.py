"""Stored studies to one tidy DataFrame (one row per run) and per-cell aggregates over seeds.

Two readers give the same frame:

- RDB storages (``sqlite:///…``, ``postgresql://…``, ``mysql://…``): one SQL query per Optuna table
  (trials, trial_values, trial_params, trial_user_attributes), pivoted in pandas. This is what makes a
  10,000-trial study load in seconds; ``study.trials_dataframe()`` builds one FrozenTrial per trial.
- Any other storage (an in-memory or journal storage object): ``study.get_trials``.

Columns (see docs/architecture.md, "Optuna storage schema"): ``study``, ``number``, ``state``, the five
weights (``gamma_info`` … ``gamma_red``: the user attributes, falling back to the params), ``seed``,
``value``, every ``metric.*``, ``joint.*`` and ``loss.*`` attribute, ``duration_s`` (the attribute, else
complete − start), the other attributes (``device``, ``cell``, ``fail_reason`` …), ``datetime_start``,
``datetime_complete``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from tipsd.model.errors import TipsdError
from tipsd.model.record import GAMMA_NAMES, LOSS, RESULT_PREFIXES, masked_url, sqlite_path, stored_float

# Study user attribute of a companion study of cell means (`tipsd.sweep.companion`): the study it
# aggregates. Analysis refuses such a study and names that one.
COMPANION_OF = "tipsd.companion_of"
_RDB_PREFIXES = ("sqlite:", "postgresql", "postgres:", "mysql")
_BASE_COLUMNS = ("study", "number", "state", *GAMMA_NAMES, "seed", "value")


class AnalysisError(TipsdError):
    """Bad input to an analysis command (unknown study, weight or metric; nothing to analyse)."""


@dataclass
class StudyInfo:
    """What a study says about itself (its user attributes, direction and trial counts).

    Attributes:
        name: the study name.
        direction: ``"maximize"`` or ``"minimize"`` (of ``value``).
        metric: the metric the study optimises (``tipsd.metric``, e.g. ``"Total"``), or ``"value"``.
        user_attrs: the study's user attributes (``tipsd.spec``, ``tipsd.version`` …).
        counts: number of trials per state name, e.g. ``{"COMPLETE": 16, "FAILED": 1}``.
    """

    name: str
    direction: str = "maximize"
    metric: str = "value"
    user_attrs: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def is_rdb_url(storage: Any) -> bool:
    """Whether `storage` is an RDB URL string that the fast SQL reader can open.

    Example:
        >>> is_rdb_url("sqlite:///tipsd.db"), is_rdb_url("journal.log")
        (True, False)
    """
    return isinstance(storage, str) and storage.startswith(_RDB_PREFIXES)


def _check_storage(storage: Any) -> None:
    # Opening a missing SQLite file would silently create an empty database: refuse instead.
    path = sqlite_path(storage)
    if path is not None and not Path(path).exists():
        raise AnalysisError(f"storage file '{Path(path).resolve()}' does not exist (from --storage {masked_url(storage)})")


def _reader(storage: Any) -> Any:
    """A storage URL opened for reading only (`tipsd.analysis.readonly`); a storage object as it is."""
    from tipsd.analysis.readonly import open_readonly

    if not is_rdb_url(storage):
        return storage
    path = sqlite_path(storage)
    key = (storage, Path(path).stat().st_ino if path and Path(path).exists() else None)
    if key not in _READERS:
        while len(_READERS) >= 4:  # a few, not one per URL ever read (long test sessions)
            _READERS.pop(next(iter(_READERS))).engine.dispose()
        _READERS[key] = open_readonly(storage)
    return _READERS[key]


# The storages this process last opened for reading, by URL and file (a command reads one storage
# several times; a file replaced under the same name is opened anew).
_READERS: dict[tuple[str, Any], Any] = {}


def study_names(storage: Any) -> list[str]:
    """Names of the studies in `storage` (a URL or an Optuna storage object), sorted."""
    import optuna

    from tipsd.analysis.readonly import ReadError

    _check_storage(storage)
    try:
        return sorted(optuna.study.get_all_study_names(storage=_reader(storage)))
    except ReadError:
        raise
    except Exception as err:  # bad URL, missing driver, unreachable server
        raise AnalysisError(f"cannot open storage '{masked_url(storage)}': "
                            f"{masked_url(str(err).splitlines()[0] if str(err) else type(err).__name__)}") from None


def load_study(storage: Any, name: str):
    """The `optuna.Study` called `name`; an unknown name is an error listing the stored ones.

    Example:
        >>> load_study("sqlite:///tipsd.db", "table1")  # doctest: +SKIP
    """
    import optuna

    names = study_names(storage)
    if name not in names:
        listing = ", ".join(names) if names else "none"
        raise AnalysisError(f"study '{name}' not found in {masked_url(storage)}; studies there: {listing}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=_reader(storage))
    source = study.user_attrs.get(COMPANION_OF)
    if source is not None:
        # its trials are cell means (n, std in user attributes): analysed as runs, every cell would
        # look like one seed; the runs themselves are in the study it was built from
        raise AnalysisError(f"study '{name}' is the dashboard's companion of study '{source}' (one trial per "
                            f"cell holding the seed mean), not runs to analyse; use study '{source}' "
                            f"instead, e.g. tipsd table {source}")
    return study


def study_info(study, frame: pd.DataFrame | None = None) -> StudyInfo:
    """Summarise `study` (an `optuna.Study`); counts come from `frame` when given (cheaper)."""
    attrs = dict(study.user_attrs)
    direction = str(attrs.get("tipsd.direction") or study.direction.name).lower()
    if frame is not None:
        counts = frame["state"].value_counts().to_dict() if len(frame) else {}
    else:
        counts = pd.Series([t.state.name for t in study.get_trials(deepcopy=False)]).value_counts().to_dict()
    return StudyInfo(
        name=study.study_name,
        direction=direction,
        metric=str(attrs.get("tipsd.metric", "value")),
        user_attrs=attrs,
        counts={str(k): int(v) for k, v in counts.items()},
    )


def load_runs(
    storage: Any,
    studies: str | Sequence[str],
    *,
    all_states: bool = False,
    method: str = "auto",
) -> pd.DataFrame:
    """Load one or more stored studies into a tidy frame, one row per trial.

    Args:
        storage: an Optuna storage URL (``sqlite:///tipsd.db``) or storage object.
        studies: one study name or several (the ``study`` column tells them apart).
        all_states: keep RUNNING, FAILED, PRUNED, WAITING trials too (default: COMPLETE only).
        method: ``"sql"`` (one query per table; RDB URLs only), ``"optuna"`` (``study.get_trials``)
            or ``"auto"`` (``"sql"`` when the storage is an RDB URL).

    Returns:
        The frame described in the module docstring, sorted by study and trial number.

    Example:
        >>> runs = load_runs("sqlite:///tipsd.db", "table1")  # doctest: +SKIP
        >>> runs[["gamma_info", "gamma_s", "seed", "value"]].head()  # doctest: +SKIP
    """
    names = [studies] if isinstance(studies, str) else list(studies)
    loaded = [load_study(storage, n) for n in names]
    if method == "auto":
        method = "sql" if is_rdb_url(storage) else "optuna"
    if method == "sql":
        raw = _raw_sql(storage, names)
    elif method == "optuna":
        raw = pd.concat([_raw_optuna(s) for s in loaded], ignore_index=True) if loaded else pd.DataFrame()
    else:
        raise AnalysisError(f"unknown load method '{method}'; expected one of: auto, sql, optuna")
    frame = _tidy(raw)
    if not all_states:
        frame = frame[frame["state"] == "COMPLETE"].reset_index(drop=True)
    return frame


def _raw_optuna(study) -> pd.DataFrame:
    records = []
    for t in study.get_trials(deepcopy=False):
        rec: dict[str, Any] = {
            "study": study.study_name,
            "number": t.number,
            "state": t.state.name,
            "value": t.values[0] if t.values else np.nan,
            "datetime_start": t.datetime_start,
            "datetime_complete": t.datetime_complete,
        }
        rec.update({f"param.{k}": v for k, v in t.params.items()})
        rec.update({f"attr.{k}": v for k, v in t.user_attrs.items()})
        records.append(rec)
    return pd.DataFrame.from_records(records)


def _raw_sql(url: str, names: list[str]) -> pd.DataFrame:
    import sqlalchemy as sa
    from optuna.distributions import json_to_distribution

    from tipsd.analysis.readonly import reader_engine_kwargs

    engine = sa.create_engine(url, **reader_engine_kwargs(url))
    try:
        with engine.connect() as conn:
            ids = pd.DataFrame(
                conn.execute(
                    sa.text("SELECT study_id, study_name FROM studies WHERE study_name IN :n").bindparams(
                        sa.bindparam("n", expanding=True)
                    ),
                    {"n": names},
                ).all(),
                columns=["study_id", "study"],
            )
            where = "study_id IN :s"
            in_study = f"trial_id IN (SELECT trial_id FROM trials WHERE {where})"

            def query(sql: str, columns: list[str]) -> pd.DataFrame:
                stmt = sa.text(sql).bindparams(sa.bindparam("s", expanding=True))
                res = conn.execute(stmt, {"s": [int(i) for i in ids["study_id"]]})
                # Plain DBAPI tuples: building sqlalchemy Row objects costs more than the query.
                rows = res.cursor.fetchall() if getattr(res, "cursor", None) is not None else res.all()
                # Column-wise construction: pandas probing sqlalchemy Row objects one by one is slow.
                cols = list(zip(*rows)) if rows else [()] * len(columns)
                # Object columns: pandas' default string dtype (Arrow) costs a conversion we never use.
                return pd.DataFrame({c: np.array(v, dtype=object) for c, v in zip(columns, cols)}, columns=columns)

            trials = query(
                f"SELECT trial_id, number, study_id, state, datetime_start, datetime_complete "
                f"FROM trials WHERE {where}",
                ["trial_id", "number", "study_id", "state", "datetime_start", "datetime_complete"],
            )
            values = query(
                f"SELECT trial_id, value, value_type FROM trial_values WHERE objective = 0 AND {in_study}",
                ["trial_id", "value", "value_type"],
            )
            params = query(
                f"SELECT trial_id, param_name, param_value, distribution_json FROM trial_params "
                f"WHERE {in_study}",
                ["trial_id", "key", "internal", "dist"],
            )
            if conn.dialect.name == "sqlite":
                # One row per attribute key, its trial ids and values concatenated by SQLite: 40 rows to
                # fetch instead of 400,000, and the values parsed by one C-level json.loads per key.
                # Both aggregates of a group see its rows in the same order.
                stmt = sa.text(f"SELECT key, group_concat(trial_id), '[' || group_concat(value_json, ',') || ']' "
                               f"FROM trial_user_attributes WHERE {in_study} GROUP BY key")
                res = conn.execute(stmt.bindparams(sa.bindparam("s", expanding=True)),
                                   {"s": [int(i) for i in ids["study_id"]]})
                attrs = {key: (np.array(tid.split(","), dtype=np.int64), json.loads(values))
                         for key, tid, values in res.all()}
            else:
                long = query(f"SELECT trial_id, key, value_json FROM trial_user_attributes WHERE {in_study}",
                             ["trial_id", "key", "value_json"])
                attrs = {key: (g["trial_id"].to_numpy(dtype=np.int64), [_decode(t) for t in g["value_json"]])
                         for key, g in long.groupby("key", sort=False)}
    finally:
        engine.dispose()

    trials = trials.merge(ids, on="study_id").drop(columns="study_id")
    trials["state"] = trials["state"].astype(str).str.replace("TrialState.", "", regex=False)
    # Optuna stores +-inf as NULL with a value_type tag.
    inf = {"INF_POS": math.inf, "INF_NEG": -math.inf}
    vt = values["value_type"].astype(str).str.replace("TrialValueType.", "", regex=False)
    values["value"] = np.where(vt.isin(list(inf)), vt.map(inf), values["value"].astype(float))
    trials = trials.merge(values[["trial_id", "value"]], on="trial_id", how="left")
    row_of = pd.Index(trials["trial_id"])
    wide: dict[str, np.ndarray] = {}
    if len(params):
        # Params are stored in internal form (a categorical's index): decode once per (distribution, value).
        internal = params["internal"].to_numpy(dtype=float)
        external = np.empty(len(params), dtype=object)
        for dist, idx in params.groupby("dist").indices.items():
            decoder = json_to_distribution(dist)
            uniques, inverse = np.unique(internal[idx], return_inverse=True)
            external[idx] = np.array([decoder.to_external_repr(x) for x in uniques] + [None], dtype=object)[inverse]
        for key, idx in params.groupby("key").indices.items():
            wide["param." + key] = _scatter(row_of, params["trial_id"].to_numpy()[idx], external[idx])
    for key, (tids, values) in attrs.items():
        wide["attr." + key] = _scatter(row_of, tids, values)
    if wide:
        trials = pd.concat([trials, pd.DataFrame(wide, index=trials.index)], axis=1)
    for col in ("datetime_start", "datetime_complete"):
        trials[col] = pd.to_datetime(trials[col])
    return trials.drop(columns="trial_id")


def _scatter(row_of: pd.Index, trial_ids: np.ndarray, values) -> np.ndarray:
    """One wide column: `values` placed at the rows of `trial_ids` in `row_of` (object, NaN elsewhere)."""
    col = np.full(len(row_of), np.nan, dtype=object)
    rows = row_of.get_indexer(trial_ids)
    keep = rows >= 0
    vals = np.empty(len(trial_ids), dtype=object)
    vals[:] = values
    col[rows[keep]] = vals[keep]
    return col


def _decode(text: str) -> Any:
    # Most attributes are numbers: float() is ~20x cheaper than json.loads and gives the same value.
    try:
        return float(text) if text[:1] in "-0123456789" else json.loads(text)
    except ValueError:
        return json.loads(text)


def _tidy(raw: pd.DataFrame) -> pd.DataFrame:
    """Raw reader output (``param.*``, ``attr.*`` columns) to the documented tidy frame."""
    if raw.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in _BASE_COLUMNS}).astype(
            {"study": object, "state": object}
        )
    out = pd.DataFrame({"study": raw["study"].astype(str), "number": raw["number"].astype(int),
                        "state": raw["state"].astype(str)})
    for g in GAMMA_NAMES:
        vals = _numeric(raw.get(f"attr.{g}"), len(raw))
        out[g] = vals.fillna(_numeric(raw.get(f"param.{g}"), len(raw))).to_numpy()
    seed = _numeric(raw.get("attr.seed"), len(raw)).fillna(_numeric(raw.get("param.seed"), len(raw)))
    out["seed"] = seed.astype("Int64").array
    out["value"] = pd.to_numeric(raw["value"], errors="coerce").astype(float).to_numpy()
    attr_cols = sorted(c for c in raw.columns if c.startswith("attr.") and c[5:] not in GAMMA_NAMES + ("seed",))
    for c in attr_cols:
        key = c[5:]
        col = raw[c]
        if key.startswith(RESULT_PREFIXES):  # numbers, stored NaN (null) included: always a float column
            numeric = pd.to_numeric(col, errors="coerce")
            if numeric.notna().sum() != col.notna().sum():  # text such as tipsd 0.1's "nan": the slow path
                numeric = pd.Series([stored_float(v) for v in col], dtype=float)
            out[key] = numeric.to_numpy(dtype=float)
            continue
        numeric = pd.to_numeric(col, errors="coerce")
        # Keep a column numeric when every stored value is a number (or missing).
        is_num = numeric.notna().sum() == col.notna().sum() and not col.map(lambda v: isinstance(v, bool)).any()
        out[key] = numeric.astype(float).to_numpy() if is_num else col.astype(object).to_numpy()
    for c in ("datetime_start", "datetime_complete"):
        out[c] = pd.to_datetime(raw[c]).to_numpy() if c in raw else pd.NaT
    wall = (out["datetime_complete"] - out["datetime_start"]).dt.total_seconds()
    out["duration_s"] = out["duration_s"].fillna(wall) if "duration_s" in out else wall
    # Metric, joint and loss columns grouped together, in a stable order.
    front = [c for c in _BASE_COLUMNS]
    groups = [sorted(c for c in out.columns if c.startswith(p)) for p in RESULT_PREFIXES]
    rest = [c for c in out.columns if c not in front and not any(c in g for g in groups)]
    cols = front + [c for g in groups for c in g] + rest
    return out[cols].sort_values(["study", "number"]).reset_index(drop=True)


def _numeric(col: pd.Series | None, n: int) -> pd.Series:
    if col is None:
        return pd.Series(np.full(n, np.nan))
    return pd.to_numeric(col, errors="coerce").astype(float).reset_index(drop=True)


def metric_column(frame: pd.DataFrame, metric: str | None, default: str = "value") -> str:
    """The frame column for a user-given metric name.

    ``"Total"`` → ``metric.Total``; ``"L_com"`` → ``loss.L_com``; ``"value"``, ``"duration_s"`` and
    full column names pass through. An unknown name is an error listing the choices.

    Example:
        >>> f = pd.DataFrame(columns=["value", "metric.Total"])
        >>> metric_column(f, "Total")
        'metric.Total'
    """
    name = metric or default
    for cand in (name, *(prefix + name for prefix in RESULT_PREFIXES)):
        if cand in frame.columns:
            return cand
    if name == default or (metric is None and default in frame.columns):
        return "value"
    from tipsd.analysis.names import did_you_mean

    columns = [c for c in frame.columns if c.startswith(RESULT_PREFIXES)]
    # the short names (Total, L_com) are what a user types; the prefixed columns work too
    short = ["value", *dict.fromkeys(c.split(".", 1)[1] for c in columns)]
    close = did_you_mean(name, short + columns)
    raise AnalysisError(f"metric '{name}' not in the study" + (close if "did you mean" in close else
                        f"; expected one of: {', '.join(short)}"))


def higher_is_better(column: str, direction: str = "maximize") -> bool:
    """Whether larger values of `column` are better (losses and durations are minimised)."""
    if column == "value":
        return direction != "minimize"
    return not column.startswith(LOSS) and column not in ("duration_s", "peak_mem_mb")


def require_finished(frame: pd.DataFrame, study: str, counts: dict[str, int] | None = None) -> None:
    """Raise `AnalysisError` when `frame` (finished runs) is empty, saying what the study holds."""
    if len(frame):
        return
    held = ", ".join(f"{n} {s}" for s, n in sorted((counts or {}).items())) or "no trials"
    raise AnalysisError(f"study '{study}' has no finished (COMPLETE) run; it holds {held}")


def aggregate_cells(
    runs: pd.DataFrame, metric: str = "value", by: Sequence[str] = GAMMA_NAMES, confidence: float = 0.95
) -> pd.DataFrame:
    """Mean, spread and t-interval of `metric` over seeds, one row per cell (γ vector).

    Args:
        runs: the frame of `load_runs` (finished runs).
        metric: column to aggregate.
        by: the columns that define a cell (default: the five weights).
        confidence: level of the two-sided t-distribution interval.

    Returns:
        Columns ``*by``, ``mean``, ``std`` (sample, ddof=1; NaN for one run), ``n``, ``sem``,
        ``ci_low``, ``ci_high`` (mean ∓ t_{(1+c)/2, n−1} · std/√n; NaN for n < 2) and ``seeds``
        (sorted tuple).

    Example:
        >>> r = pd.DataFrame({"gamma_info": [1, 1], "seed": [0, 1], "value": [1.0, 3.0]})
        >>> aggregate_cells(r, by=["gamma_info"])[["mean", "std", "n"]].values.tolist()
        [[2.0, 1.4142135623730951, 2.0]]
    """
    from scipy import stats

    by = list(by)
    data = runs[by + [metric, "seed"]].dropna(subset=[metric])
    grouped = data.groupby(by, dropna=False, sort=True)
    agg = grouped[metric].agg(["mean", "std", "count"]).rename(columns={"count": "n"})
    agg["seeds"] = grouped["seed"].agg(lambda s: tuple(sorted(int(x) for x in s.dropna())))
    agg = agg.reset_index()
    agg["n"] = agg["n"].astype(float)
    agg["sem"] = agg["std"] / np.sqrt(agg["n"])
    tq = np.where(agg["n"] > 1, stats.t.ppf((1 + confidence) / 2, np.maximum(agg["n"] - 1, 1)), np.nan)
    agg["ci_low"] = agg["mean"] - tq * agg["sem"]
    agg["ci_high"] = agg["mean"] + tq * agg["sem"]
    return agg[by + ["mean", "std", "n", "sem", "ci_low", "ci_high", "seeds"]]
