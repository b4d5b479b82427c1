"""Study files (`studies/*.toml`): parse, validate, enumerate cells, hash, diff.

A study file is TOML. Every field is checked here, before any storage is opened, so that a bad file
costs one clear line and nothing else (see docs/sweep.md for the format)::

    name = "table1"
    description = "gamma_info x gamma_s, 2 seeds"
    sampler = "grid"                       # grid | tpe | gp | random | qmc
    metric = "Total"                       # a key of TrainResult.metrics
    direction = "maximize"
    seeds = [0, 1]                         # or racing: seeds = { min = 3, max = 12 } (docs/racing.md)
    [space]
    gamma_info = [0, 0.1, 1, 5]            # grid: value lists; others: {low, high, log, include_zero}
    gamma_s = [0, 0.1, 1, 5]
    [fixed]
    gamma_com = 1.0
    [train]
    preset = "quick"
    overrides = {epochs = 4}
"""
from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tipsd.model.config import PRESETS, config_keys, make_config
from tipsd.model.errors import ConfigError, TipsdError
from tipsd.model.posetrack18 import folder_problem
from tipsd.model.record import GAMMA_NAMES, METRIC_NAMES
from tipsd.sweep.pruners import PRUNERS, build_pruner
from tipsd.analysis.racing import RacingSettings

SAMPLERS = ("grid", "tpe", "gp", "random", "qmc")
DIRECTIONS = ("maximize", "minimize")
TOP_KEYS = ("name", "description", "sampler", "sampler_seed", "metric", "direction", "seeds",
            "budget", "storage", "space", "fixed", "train", "pruner", "run", "racing")
SEED_RANGE_KEYS = ("min", "max")  # seeds = { min, max }: racing (seeds 0 .. max - 1)
RACING_KEYS = ("alpha", "budget")  # [racing]; defaults: RacingSettings.
TRAIN_KEYS = ("preset", "overrides")
RANGE_KEYS = ("low", "high", "log", "include_zero")
# [run]: how the driver runs, not what it computes; excluded from the spec hash.
RUN_DEFAULTS = {"max_retries": 2, "heartbeat_s": 10, "grace_s": 30, "storage_retry_s": 300}
# [run] keep_weights: which trials keep their trained weights (sweep/keep_weights.py); its default
# depends on the preset (none for paper), so it is filled in by `parse_spec`.
KEEP_WEIGHTS = ("best-per-cell", "all", "none")
RUN_KEYS = (*RUN_DEFAULTS, "keep_weights")
# Largest grid (cells x seeds) a study may have: the driver re-derives every job's state from the
# stored trials before each claim, which stays well under a second per claim up to this size.
MAX_GRID_RUNS = 100_000
# Optuna stores a study name in a 512-character column (PostgreSQL and MySQL refuse longer ones).
MAX_NAME_LENGTH = 512
# Not part of a study's identity: where it is stored and how failures are retried.
UNHASHED = ("storage", "run")


class SpecError(TipsdError):
    """A study file is malformed or inconsistent (message names file, field and value)."""


@dataclass(frozen=True)
class Range:
    """A continuous search range; `include_zero` adds "term off" (0) as a separate choice."""

    low: float
    high: float
    log: bool = False
    include_zero: bool = False


@dataclass
class StudySpec:
    """A validated study file.

    Attributes:
        name: Optuna study name.
        space: weight -> list of values (grid / categorical) or `Range`.
        fixed: weight -> value for every weight not searched (the preset's value if not given).
        seeds: the seeds a run may get (a racing study: ``0 .. max − 1``, the cells get a prefix).
        racing: the race's settings when ``seeds = { min, max }``; None for a fixed seed list.
        raw: the parsed TOML (with CLI overrides applied) as stored in the study.
    """

    name: str
    description: str
    sampler: str
    metric: str
    direction: str
    seeds: list[int]
    space: dict[str, Any]
    fixed: dict[str, float]
    preset: str
    overrides: dict[str, Any]
    budget: int = 0
    sampler_seed: int | None = None
    storage: str = ""
    pruner: dict[str, Any] = field(default_factory=lambda: {"type": "none"})
    run: dict[str, Any] = field(default_factory=lambda: dict(RUN_DEFAULTS))
    path: str = ""
    raw: dict[str, Any] = field(default_factory=dict)
    racing: RacingSettings | None = None

    @property
    def is_grid(self) -> bool:
        """True for the grid sampler (cells enumerated by the driver)."""
        return self.sampler == "grid"

    def cells(self) -> list[dict[str, float]]:
        """Every full γ vector of a grid study (Cartesian product of the value lists), in file order.

        Example:
            >>> spec = parse_spec({"name": "t", "space": {"gamma_info": [0, 1]}})
            >>> spec.cells()[0]  # the weights not searched take the preset's values (quick: TrainConfig's)
            {'gamma_info': 0.0, 'gamma_s': 0.1, 'gamma_com': 1.0, 'gamma_var': 1.0, 'gamma_red': 1.0}
        """
        names = list(self.space)
        out = []
        for combo in itertools.product(*(self.space[n] for n in names)):
            out.append(self.full_gammas(dict(zip(names, combo))))
        return out

    def full_gammas(self, searched: dict[str, float]) -> dict[str, float]:
        """All five weights in GAMMA_NAMES order: searched values, then fixed ones."""
        return {n: float(searched[n]) if n in searched else float(self.fixed[n]) for n in GAMMA_NAMES}

    def total_jobs(self) -> int:
        """How many (γ vector, seed) runs the study aims for (racing: at most; the race stops earlier)."""
        n_cells = math.prod(len(v) for v in self.space.values()) if self.is_grid else self.budget
        return n_cells * len(self.seeds)


# What an omitted field means; filled in before hashing, so writing a default out is no change.
IDENTITY_DEFAULTS: dict[str, Any] = {
    "description": "", "sampler": "grid", "metric": "Total", "direction": "maximize", "seeds": [0],
    "fixed": {}, "pruner": {"type": "none"},
}


def spec_identity(raw: dict[str, Any]) -> dict[str, Any]:
    """The part of a raw spec that defines what a study computes, with defaults filled in.

    Everything but storage and [run]; an omitted field and its default written out are equal.

    Example:
        >>> spec_identity({"name": "a"}) == spec_identity({"name": "a", "train": {"preset": "quick"}})
        True
    """
    ident = {**IDENTITY_DEFAULTS, **{k: v for k, v in raw.items() if k not in UNHASHED}}
    train = ident.get("train", {})
    if isinstance(train, dict):
        ident["train"] = {"preset": "quick", "overrides": {}, **train}
    if isinstance(ident.get("seeds"), dict) and isinstance(ident.get("racing", {}), dict):
        ident["racing"] = {"alpha": RacingSettings.alpha, **ident.get("racing", {})}  # [racing] omitted = defaults
        ident["racing"]["alpha"] = _as_floats(ident["racing"]["alpha"])
    # A weight is a number: 1 and 1.0 are the same value (and the same cell key), so the same study.
    for section in ("space", "fixed"):
        if isinstance(ident.get(section), dict):
            ident[section] = _as_floats(ident[section])
    return ident


def _as_floats(value: Any) -> Any:
    """`value` with every int (not bool) inside it turned into a float."""
    if isinstance(value, dict):
        return {k: _as_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_floats(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def stored_spec(raw: dict[str, Any]) -> dict[str, Any]:
    """The spec as the study stores it: without ``storage`` (where it is stored is not part of it,
    and the URL may hold a password).

    Example:
        >>> stored_spec({"name": "a", "storage": "postgresql://u:pw@h/db"})
        {'name': 'a'}
    """
    return {k: v for k, v in raw.items() if k != "storage"}


def spec_hash(raw: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of the spec's identity (`spec_identity`)."""
    ident = spec_identity(raw)
    return hashlib.sha256(json.dumps(ident, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def spec_diff(old: dict[str, Any], new: dict[str, Any], limit: int = 8) -> str:
    """What changed between two raw specs, field by field, e.g. ``"sampler: 'tpe' -> 'gp'"``.

    Values are compared as `spec_identity` sees them (1 and 1.0 are equal), and shown as written.

    Example:
        >>> spec_diff({"name": "a", "space": {"gamma_s": [0.1, 1]}}, {"name": "a", "space": {"gamma_s": [0.1, 5]}})
        'space.gamma_s: [0.1, 1] -> [0.1, 5]'
    """
    a, b = _flatten(spec_identity(old)), _flatten(spec_identity(new))
    shown_a, shown_b = _flatten({**IDENTITY_DEFAULTS, **old}), _flatten({**IDENTITY_DEFAULTS, **new})
    changes = []
    for key in sorted(set(a) | set(b)):
        if a.get(key, "<unset>") != b.get(key, "<unset>"):
            changes.append(f"{key}: {shown_a.get(key, a.get(key, '<unset>'))!r} -> "
                           f"{shown_b.get(key, b.get(key, '<unset>'))!r}")
    more = f" (+{len(changes) - limit} more)" if len(changes) > limit else ""
    return "; ".join(changes[:limit]) + more


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _hint(name: str, valid: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(str(name), list(valid), n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; expected one of {', '.join(valid)}"


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def load_spec(path: str | Path, *, preset: str | None = None) -> StudySpec:
    """Read and validate a study file.

    Args:
        path: the TOML file.
        preset: if given, replaces ``[train] preset`` (the study's identity changes with it).

    Returns:
        The validated `StudySpec`. Raises `SpecError` (one line: file, field, value) on bad input.

    Example:
        >>> load_spec("studies/smoke.toml").total_jobs()
        8
    """
    import tomllib

    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        raise SpecError(f"{path}: cannot read study file ({err.strerror or err})") from None
    except UnicodeDecodeError as err:
        raise SpecError(f"{path}: not UTF-8 text (byte {err.object[err.start:err.start + 1]!r} at offset "
                        f"{err.start}); save the study file as UTF-8") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{path}: TOML syntax error: {err}") from None
    if preset is not None:
        raw.setdefault("train", {})
        if isinstance(raw["train"], dict):
            raw["train"]["preset"] = preset
    return parse_spec(raw, str(path))


def toml_text(value: Any) -> str:
    """`value` as the study file spells it, for error messages: ``true``, ``{ alpha = 0.05 }``; strings
    stay quoted as before (``'huge'``).

    Example:
        >>> toml_text({"alpha": 0.05, "on": True}), toml_text([0, 1]), toml_text("x")
        ('{ alpha = 0.05, on = true }', '[0, 1]', "'x'")
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_text(v)}" for k, v in value.items()) + " }" if value else "{}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_text(v) for v in value) + "]"
    return repr(value)


def parse_spec(raw: dict[str, Any], where: str = "<study>") -> StudySpec:
    """Validate an already-parsed study dict (see `load_spec`); `where` prefixes error messages."""

    def fail(fld: str, value: Any, expected: str) -> SpecError:
        if value is None:  # a key the study file does not have (TOML has no null)
            return SpecError(f"{where}: {fld} is missing: {expected}")
        return SpecError(f"{where}: {fld} = {toml_text(value)}: {expected}")

    for key in raw:
        if key not in TOP_KEYS:
            raise fail(key, raw[key], "unknown field" + _hint(key, TOP_KEYS))
    _refuse_nul(raw, "", fail)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise fail("name", name, "expected a non-empty string (the study name)")
    if len(name) > MAX_NAME_LENGTH:
        raise fail("name", name[:40] + "...", f"{len(name)} characters; a study name has at most {MAX_NAME_LENGTH} "
                                              "(what Optuna's storages hold)")
    if any(not ch.isprintable() for ch in name):
        raise fail("name", name, "control characters (tabs, newlines ...) cannot be part of a study name")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise fail("description", description, "expected a string")
    sampler = raw.get("sampler", "grid")
    if sampler not in SAMPLERS:
        raise fail("sampler", sampler, "unknown sampler" + _hint(str(sampler), SAMPLERS))
    metric = raw.get("metric", "Total")
    if metric not in METRIC_NAMES:
        raise fail("metric", metric, "unknown metric" + _hint(str(metric), METRIC_NAMES))
    direction = raw.get("direction", "maximize")
    if direction not in DIRECTIONS:
        raise fail("direction", direction, "unknown direction" + _hint(str(direction), DIRECTIONS))
    seeds, racing = _parse_seeds(raw, fail)
    sampler_seed = raw.get("sampler_seed")
    if sampler_seed is not None and (not isinstance(sampler_seed, int) or isinstance(sampler_seed, bool)):
        raise fail("sampler_seed", sampler_seed, "expected an integer")
    storage = raw.get("storage", "")
    if not isinstance(storage, str):
        raise fail("storage", storage, "expected a storage URL string, e.g. 'sqlite:///tipsd.db'")

    space = _parse_space(raw.get("space"), sampler == "grid", fail)
    given_fixed = _parse_fixed(raw.get("fixed", {}), space, fail)
    budget = raw.get("budget")
    if sampler == "grid":
        if "budget" in raw:
            raise fail("budget", budget, "a grid study runs every cell; remove budget or pick sampler = 'tpe'")
    elif not (isinstance(budget, int) and not isinstance(budget, bool) and budget >= 1):
        raise fail("budget", budget, f"sampler {sampler!r} needs budget = number of γ settings to try (an integer >= 1)")
    if racing is not None and racing.budget is not None:
        if sampler != "grid":
            raise fail("racing.budget", racing.budget, "a racing budget (in runs) is for grid studies; "
                       "a Bayesian study's top-level budget counts settings")
        first = math.prod(len(v) for v in space.values()) * racing.min_seeds
        if racing.budget < first:
            raise fail("racing.budget", racing.budget, f"below the first round's {first} runs "
                       f"(cells x seeds.min = {racing.min_seeds}); the first round always runs")

    train = raw.get("train", {})
    if not isinstance(train, dict):
        raise fail("train", train, "expected a table with preset and overrides")
    for key in train:
        if key not in TRAIN_KEYS:
            raise fail(f"train.{key}", train[key], "unknown field" + _hint(key, TRAIN_KEYS))
    preset = train.get("preset", "quick")
    if not isinstance(preset, str) or preset not in PRESETS:  # a list is unhashable: no dict lookup
        raise fail("train.preset", preset, "unknown preset" + _hint(str(preset), tuple(PRESETS)))
    preset_gammas = make_config(preset)  # a weight neither searched nor fixed keeps the preset's value
    fixed = {n: given_fixed.get(n, float(getattr(preset_gammas, n))) for n in GAMMA_NAMES if n not in space}
    overrides = train.get("overrides", {})
    if not isinstance(overrides, dict):
        raise fail("train.overrides", overrides, "expected a table of config keys")
    valid = [k for k in config_keys() if k not in GAMMA_NAMES + ("seed", "preset")]
    for key in overrides:
        if key in GAMMA_NAMES:
            raise fail(f"train.overrides.{key}", overrides[key], "loss weights belong in [space] or [fixed]")
        if key == "seed":
            raise fail("train.overrides.seed", overrides[key], "use the top-level seeds list")
        if key not in valid:
            raise fail(f"train.overrides.{key}", overrides[key], "unknown config key" + _hint(key, valid))
    data = overrides.get("data")
    if isinstance(data, str) and not data.startswith("synth:"):
        # Caught here, not in the first trial, where it would fail every run max_retries times.
        why = folder_problem(data, "dataset")
        if why is not None:
            raise fail("train.overrides.data", data, why if why != "does not exist"
                       else "no such dataset folder (or use 'synth:<preset>')")
    pruner = _parse_pruner(raw.get("pruner", {"type": "none"}), fail)
    run = dict(RUN_DEFAULTS)
    run_raw = raw.get("run", {})
    if not isinstance(run_raw, dict):
        raise fail("run", run_raw, "expected a table")
    run["keep_weights"] = "none" if preset == "paper" else "best-per-cell"  # paper networks are large
    for key, value in run_raw.items():
        if key not in RUN_KEYS:
            raise fail(f"run.{key}", value, "unknown field" + _hint(key, RUN_KEYS))
        if key == "keep_weights":
            if value not in KEEP_WEIGHTS:
                raise fail("run.keep_weights", value, "unknown policy" + _hint(str(value), KEEP_WEIGHTS))
            run[key] = value
            continue
        low = 0 if key in ("max_retries", "storage_retry_s") else 1
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= low):
            raise fail(f"run.{key}", value, f"expected an integer >= {low}")
        run[key] = value
    if run["grace_s"] <= run["heartbeat_s"]:
        raise fail("run.grace_s", run["grace_s"], f"must exceed run.heartbeat_s ({run['heartbeat_s']})")

    if sampler == "grid":
        runs = math.prod(len(v) for v in space.values()) * len(seeds)
        if runs > MAX_GRID_RUNS:
            raise fail("space", {n: f"{len(v)} values" for n, v in space.items()},
                       f"a grid of {runs} runs (cells x seeds) is above the limit of {MAX_GRID_RUNS}; "
                       "use fewer values, or sampler = 'tpe' with a budget")

    spec = StudySpec(
        name=name, description=description, sampler=sampler, metric=metric, direction=direction,
        seeds=list(seeds), space=space, fixed=fixed, preset=preset, overrides=dict(overrides),
        budget=budget if sampler != "grid" else 0, sampler_seed=sampler_seed, storage=storage,
        pruner=pruner, run=run, path=where, raw=raw, racing=racing,
    )
    try:  # Optuna checks the pruner's arguments (e.g. threshold needs lower or upper)
        build_pruner(pruner)
    except (TypeError, ValueError) as err:
        raise SpecError(f"{where}: pruner = {pruner!r}: {err}") from None
    # Every override and fixed weight must make a valid TrainConfig: check once with the
    # largest searched values so a bad key fails now, not in the first trial.
    probe = spec.full_gammas({n: _probe_value(v) for n, v in space.items()})
    try:
        make_config(preset, {**overrides, **probe})
    except ConfigError as err:
        raise SpecError(f"{where}: train.overrides: {err}") from None
    return spec


def _parse_seeds(raw: dict[str, Any], fail) -> tuple[list[int], RacingSettings | None]:
    """``seeds`` (a list: fixed; ``{min, max}``: racing) and ``[racing]``: the seed list and the race."""
    seeds = raw.get("seeds", [0])
    racing_raw = raw.get("racing")
    if isinstance(seeds, dict):
        for key in seeds:
            if key not in SEED_RANGE_KEYS:
                raise fail(f"seeds.{key}", seeds[key], "unknown field" + _hint(key, SEED_RANGE_KEYS))
        for key in SEED_RANGE_KEYS:
            v = seeds.get(key)
            if not (isinstance(v, int) and not isinstance(v, bool)):
                raise fail(f"seeds.{key}", v, "expected an integer (racing: seeds = { min = 3, max = 12 })")
        if seeds["min"] < 2:
            raise fail("seeds.min", seeds["min"], "expected >= 2 (a cell needs 2 seeds to be compared)")
        if seeds["max"] < seeds["min"]:
            raise fail("seeds.max", seeds["max"], f"expected >= seeds.min = {seeds['min']}")
        if seeds["max"] == seeds["min"]:  # every cell gets min seeds: a fixed grid that only looks raced
            raise fail("seeds.max", seeds["max"], f"equals seeds.min, so there is nothing to race; for a fixed "
                       f"grid write seeds = {toml_text(list(range(seeds['min'])))}, to race give max > min")
        racing_raw = {} if racing_raw is None else racing_raw
        if not isinstance(racing_raw, dict):
            raise fail("racing", racing_raw, "expected a table with alpha and budget")
        for key in racing_raw:
            if key not in RACING_KEYS:
                raise fail(f"racing.{key}", racing_raw[key], "unknown field" + _hint(key, RACING_KEYS))
        alpha = racing_raw.get("alpha", RacingSettings.alpha)
        if not (isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and 0 < alpha < 1):
            raise fail("racing.alpha", alpha, "expected a number in (0, 1), e.g. 0.05")
        budget = racing_raw.get("budget")
        if budget is not None and not (isinstance(budget, int) and not isinstance(budget, bool) and budget >= 1):
            raise fail("racing.budget", budget, "expected a positive integer (runs)")
        racing = RacingSettings(min_seeds=seeds["min"], max_seeds=seeds["max"], alpha=float(alpha), budget=budget)
        return list(racing.seeds), racing
    if racing_raw is not None:
        raise fail("racing", racing_raw, "racing needs seeds = { min = 3, max = 12 } instead of a seed list")
    if (not isinstance(seeds, list) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
        raise fail("seeds", seeds, "expected a non-empty list of integers >= 0, or { min = 3, max = 12 } to race")
    if len(set(seeds)) != len(seeds):
        raise fail("seeds", seeds, "seeds must be distinct")
    return list(seeds), None


def _refuse_nul(value: Any, fld: str, fail) -> None:
    """No string anywhere in the spec may hold a NUL character (PostgreSQL cannot store it)."""
    if isinstance(value, dict):
        for k, v in value.items():
            key = f"{fld}.{k}" if fld else str(k)
            if "\x00" in str(k):
                raise fail(key.replace("\x00", "\\x00"), v, "a NUL character cannot be part of a field name")
            _refuse_nul(v, key, fail)
    elif isinstance(value, list):
        for v in value:
            _refuse_nul(v, fld, fail)
    elif isinstance(value, str) and "\x00" in value:
        raise fail(fld, value, "a NUL character (\\u0000) cannot be stored; remove it")


def _probe_value(v: Any) -> float:
    return float(max(v)) if isinstance(v, list) else float(v.high)


def _parse_space(space: Any, grid: bool, fail) -> dict[str, Any]:
    if not isinstance(space, dict) or not space:
        raise fail("space", space, "expected a non-empty table of weights to search, e.g. gamma_s = [0, 0.1, 1]")
    out: dict[str, Any] = {}
    for name, value in space.items():
        fld = f"space.{name}"
        if name not in GAMMA_NAMES:
            raise fail(fld, value, "unknown weight" + _hint(name, GAMMA_NAMES))
        if isinstance(value, list):
            if not value:
                raise fail(fld, value, "empty value list; give at least one weight")
            for v in value:
                if not _is_num(v) or v < 0:
                    raise fail(fld, v, "expected finite numbers >= 0 in the value list")
            floats = [float(v) for v in value]
            if len(set(floats)) != len(floats):
                raise fail(fld, value, "values must be distinct")
            out[name] = floats
        elif isinstance(value, dict):
            if grid:
                raise fail(fld, value, "the grid sampler needs a list of values, not a range; "
                                       "list them or use sampler = 'tpe'")
            out[name] = _parse_range(fld, value, fail)
        else:
            raise fail(fld, value, "expected a list of values or {low, high, log, include_zero}")
    return out


def _parse_range(fld: str, value: dict, fail) -> Range:
    for key in value:
        if key not in RANGE_KEYS:
            raise fail(f"{fld}.{key}", value[key], "unknown range field" + _hint(key, RANGE_KEYS))
    low, high = value.get("low"), value.get("high")
    for key, v in (("low", low), ("high", high)):
        if not _is_num(v) or v < 0:
            raise fail(f"{fld}.{key}", v, "expected a finite number >= 0")
    log, include_zero = value.get("log", False), value.get("include_zero", False)
    for key, v in (("log", log), ("include_zero", include_zero)):
        if not isinstance(v, bool):
            raise fail(f"{fld}.{key}", v, "expected true or false")
    if low >= high:
        raise fail(f"{fld}.high", high, f"must be greater than low ({low})")
    if log and low <= 0:
        raise fail(f"{fld}.low", low, "a log range needs low > 0; add include_zero = true to also try 0")
    return Range(float(low), float(high), log, include_zero)


def _parse_fixed(fixed: Any, space: dict[str, Any], fail) -> dict[str, float]:
    """The weights the ``[fixed]`` table sets (validated); the study's preset fills in the others."""
    if not isinstance(fixed, dict):
        raise fail("fixed", fixed, "expected a table of weight = value")
    out: dict[str, float] = {}
    for name, value in fixed.items():
        if name not in GAMMA_NAMES:
            raise fail(f"fixed.{name}", value, "unknown weight" + _hint(name, GAMMA_NAMES))
        if name in space:
            raise fail(f"fixed.{name}", value, "this weight is also in [space]; keep it in one of the two")
        if not _is_num(value) or value < 0:
            raise fail(f"fixed.{name}", value, "expected a finite number >= 0")
        out[name] = float(value)
    return out


def _parse_pruner(pruner: Any, fail) -> dict[str, Any]:
    if not isinstance(pruner, dict):
        raise fail("pruner", pruner, "expected a table, e.g. {type = 'median', n_startup_trials = 4}")
    kind = pruner.get("type", "none")
    if not isinstance(kind, str) or kind not in PRUNERS:
        raise fail("pruner.type", kind, "unknown pruner" + _hint(str(kind), tuple(PRUNERS)))
    for key, value in pruner.items():
        if key == "type":
            continue
        accepted = PRUNERS[kind][1]
        if key not in accepted:
            raise fail(f"pruner.{key}", value, f"not an argument of the {kind} pruner"
                       + _hint(key, accepted or ("type",)))
        if key in ("min_resource", "max_resource") and value == "auto":
            continue  # Optuna's own default: estimated from the trials' reported steps
        if not _is_num(value):
            raise fail(f"pruner.{key}", value, "expected a number" + (
                " or 'auto'" if key in ("min_resource", "max_resource") else ""))
    return dict(pruner, type=kind)
