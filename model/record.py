"""The record schema: what one tipsd run stores in Optuna storage, written by `tipsd.sweep` and read
by `tipsd.analysis` and `tipsd status` (docs/architecture.md, "Optuna storage schema").

Pure Python (imports neither torch nor numpy), so every reader can import it. It holds:

- the names: `GAMMA_NAMES` (the five weights), `MAP_COLUMNS` (the PoseTrack mAP table: Head … Ankle,
  Total), `METRIC_NAMES` (those and ``oks_ap``: what a study may optimise), `LOSS_NAMES`;
- the keys of a run: `cell_key` (its γ vector) and `job_key` (γ vector and seed);
- the flattening of a run into flat trial user attributes (`run_attrs` before training,
  `result_attrs` after) and back (`RESULT_PREFIXES`, `stored_float`);
- where runs are stored by default (`DEFAULT_STORAGE`) and the file of a SQLite URL (`sqlite_path`).
"""
from __future__ import annotations

import math
import re
from typing import Any, Mapping

from tipsd.model.config import GAMMA_NAMES, LOSS_NAMES
from tipsd.model.posetrack18 import COLUMNS as MAP_COLUMNS

# What a study may optimise (`metric` in a study file) and what every run records under METRIC.
METRIC_NAMES: tuple[str, ...] = (*MAP_COLUMNS, "oks_ap")
# Prefixes of a run's result attributes: metric.<METRIC_NAMES>, joint.<evaluated joint>, loss.<LOSS_NAMES>.
METRIC, JOINT, LOSS = "metric.", "joint.", "loss."
RESULT_PREFIXES = (METRIC, JOINT, LOSS)
# Prefix of the loss_balance factors a run used (loss_scale.<term>), kept for the record, not tabulated.
LOSS_SCALE = "loss_scale."
# The storage every command uses when given none: a SQLite file in the working folder.
DEFAULT_STORAGE = "sqlite:///tipsd.db"


def number_text(v: float) -> str:
    """Shortest exact text of a weight: 1.0 -> "1", 0.1 -> "0.1", 0.3183 sampled -> its full repr.

    Example:
        >>> number_text(1.0), number_text(0.1), number_text(1 / 3)
        ('1', '0.1', '0.3333333333333333')
    """
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


def cell_key(gammas: Mapping[str, float]) -> str:
    """The string key of a γ vector: each weight in `GAMMA_NAMES` order, an integer value without
    ``.0``, any other value as its ``repr`` (exact, so two sampled vectors never share a key).

    Example:
        >>> cell_key({"gamma_info": 1.0, "gamma_s": 0.1, "gamma_com": 1, "gamma_var": 1, "gamma_red": 0})
        'gamma_info=1|gamma_s=0.1|gamma_com=1|gamma_var=1|gamma_red=0'
    """
    return "|".join(f"{n}={number_text(gammas[n])}" for n in GAMMA_NAMES)


def job_key(cell: str, seed: int) -> str:
    """The key of one run, ``"<cell>|seed=<seed>"`` (the trial's ``job`` attribute).

    Example:
        >>> job_key("gamma_info=1|gamma_s=0.1|gamma_com=1|gamma_var=1|gamma_red=1", 0)[-7:]
        '|seed=0'
    """
    return f"{cell}|seed={seed}"


def run_attrs(gammas: Mapping[str, float], seed: int, *, preset: str, version: str) -> dict[str, Any]:
    """The user attributes of a run known before training: seed, all five weights, cell, job,
    preset and tipsd version.

    Example:
        >>> a = run_attrs(dict.fromkeys(GAMMA_NAMES, 1.0), 2, preset="tiny", version="0.1.0")
        >>> a["job"].endswith("|seed=2"), a["gamma_s"]
        (True, 1.0)
    """
    cell = cell_key(gammas)
    return {"seed": int(seed), **{n: float(gammas[n]) for n in GAMMA_NAMES}, "cell": cell,
            "job": job_key(cell, seed), "preset": preset, "tipsd_version": version}


def storable(value: float) -> float | None:
    """A number as a trial attribute stores it: finite floats as they are, NaN/Inf as None (JSON null).

    JSON has no NaN or Inf (optuna-dashboard could not parse them); a missing number reads back as
    NaN, so a reader's column stays numeric.
    """
    value = float(value)
    return value if math.isfinite(value) else None


def prefixed(prefix: str, values: Mapping[str, float]) -> dict[str, float | None]:
    """``{prefix + name: storable(value)}``, e.g. ``prefixed(METRIC, {"Total": 80.0})``.

    Example:
        >>> prefixed(METRIC, {"Total": 80, "Head": float("nan")})
        {'metric.Total': 80.0, 'metric.Head': None}
    """
    return {f"{prefix}{name}": storable(value) for name, value in values.items()}


def result_attrs(result: Any) -> dict[str, Any]:
    """The user attributes of a finished run: a `TrainResult` (or anything with its ``metrics``,
    ``joint_ap``, ``losses``, ``duration_s``, ``frames_per_s``, ``peak_mem_mb`` and ``device``)
    flattened to ``metric.*``, ``joint.*``, ``loss.*`` and the run's timings and device, plus the torch
    ``threads`` it trained with when its ``config`` says (part of what the value is a function of) and
    its ``loss_scales`` as ``loss_scale.<term>`` when it has them."""
    config = getattr(result, "config", None) or {}
    threads = {"threads": int(config["threads"])} if "threads" in config else {}
    # The loss_balance factors the run computed at step 0 (all 1 without balance): part of its objective.
    scales = {f"{LOSS_SCALE}{k}": float(v) for k, v in (getattr(result, "loss_scales", None) or {}).items()}
    return {**prefixed(METRIC, result.metrics), **prefixed(JOINT, result.joint_ap), **prefixed(LOSS, result.losses),
            "duration_s": float(result.duration_s), "frames_per_s": float(result.frames_per_s),
            "peak_mem_mb": float(result.peak_mem_mb), "device": str(result.device), **threads, **scales}


def stored_float(value: Any) -> float:
    """A stored result attribute read back as a float: None (and the text ``"nan"``/``"inf"`` that
    tipsd 0.1 wrote for non-finite values) become NaN/Inf.

    Example:
        >>> stored_float(None), stored_float("nan"), stored_float(2)
        (nan, nan, 2.0)
    """
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def sqlite_path(url: Any) -> str | None:
    """The database file of a ``sqlite:///FILE`` URL, or None (another storage, in-memory SQLite).

    Example:
        >>> sqlite_path("sqlite:///runs/tipsd.db"), sqlite_path("sqlite:///:memory:"), sqlite_path("postgresql://h/db")
        ('runs/tipsd.db', None, None)
    """
    prefix = "sqlite:///"
    if not isinstance(url, str) or not url.startswith(prefix):
        return None
    path = url[len(prefix):]
    return path if path not in ("", ":memory:") else None


# ``scheme://user:PASSWORD@host…``: the password is everything up to the last "@" (SQLAlchemy stops at
# the first, so this masks at least as much); ``?password=…`` in the query string too.
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][\w+.-]*://[^\s:/@'\"]*:)([^\s'\"]*)(@[^\s@'\"]*)")
_QUERY_PASSWORD = re.compile(r"(?i)([?&]password=)([^&\s'\"]*)")
MASK = "***"


def url_password(url: Any) -> str:
    """The password written in a storage URL ("" if none).

    Example:
        >>> url_password("postgresql+psycopg://me:s3cret@db/tipsd"), url_password("sqlite:///tipsd.db")
        ('s3cret', '')
    """
    if not isinstance(url, str):
        return ""
    m = _URL_PASSWORD.search(url) or _QUERY_PASSWORD.search(url)
    return m.group(2) if m else ""


def masked_url(url: Any) -> str:
    """A storage URL as tipsd prints it: any password replaced by ``***``.

    Example:
        >>> masked_url("postgresql+psycopg://me:s3cret@db:5432/tipsd?password=x")
        'postgresql+psycopg://me:***@db:5432/tipsd?password=***'
    """
    return scrub(str(url))


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` with the password of every URL in it, and each of `secrets`, replaced by ``***``.

    Example:
        >>> scrub("cannot reach 'postgresql://u:pw@h/db' (pw)", ("pw",))
        "cannot reach 'postgresql://u:***@h/db' (***)"
    """
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(3), text)
    text = _QUERY_PASSWORD.sub(lambda m: m.group(1) + MASK, text)
    for secret in secrets:
        if secret and secret != MASK:
            text = text.replace(secret, MASK)
    return text


__all__ = [
    "DEFAULT_STORAGE", "MASK", "masked_url", "scrub", "url_password", "GAMMA_NAMES", "JOINT", "LOSS", "LOSS_NAMES", "MAP_COLUMNS", "METRIC", "METRIC_NAMES",
    "RESULT_PREFIXES", "cell_key", "job_key", "number_text", "prefixed", "result_attrs", "run_attrs", "sqlite_path",
    "storable", "stored_float",
]
