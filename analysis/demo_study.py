"""Studies of known values, written in the storage schema of docs/architecture.md, without training.

Tests, the benchmark and the documentation use these to exercise the analysis on numbers one can
check by hand (for example a study whose cells hold the paper's own published values).
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Iterable, Mapping

from tipsd.model.config import TrainConfig
from tipsd.model.record import GAMMA_NAMES, LOSS, LOSS_NAMES, MAP_COLUMNS, METRIC, cell_key, prefixed

# The defaults of TrainConfig: the weights a study does not search keep these values.
DEFAULT_GAMMAS = {n: float(getattr(TrainConfig, n)) for n in GAMMA_NAMES}


def make_trial(
    gammas: Mapping[str, float],
    seed: int,
    value: float | None,
    *,
    searched: Iterable[str] | None = None,
    state: str = "COMPLETE",
    extra_attrs: Mapping[str, Any] | None = None,
):
    """One `optuna.trial.FrozenTrial` with the schema's params and user attributes.

    Args:
        gammas: weights of the run; missing ones take `DEFAULT_GAMMAS`.
        seed: the run's seed (user attribute ``seed``).
        value: the metric (``metric.Total`` too); ``None`` for trials that did not finish.
        searched: names stored as params (default: the keys of `gammas`).
        state: an Optuna state name: ``"COMPLETE"``, ``"FAIL"``, ``"PRUNED"`` or ``"RUNNING"``.
        extra_attrs: more user attributes (they override the generated ones).

    Returns:
        A trial ready for ``study.add_trial``.

    Example:
        >>> t = make_trial({"gamma_info": 1.0}, seed=0, value=80.0)
        >>> t.user_attrs["metric.Total"], t.params
        (80.0, {'gamma_info': 1.0})
    """
    import optuna
    from optuna.distributions import FloatDistribution

    full = {**DEFAULT_GAMMAS, **{k: float(v) for k, v in gammas.items()}}
    names = list(gammas) if searched is None else list(searched)
    attrs: dict[str, Any] = {"seed": int(seed), **full, "cell": cell_key(full), "device": "cpu",
                             "preset": "tiny", "duration_s": 1.5, "tipsd_version": "0.1.0"}
    if value is not None:
        attrs.update(prefixed(METRIC, {**dict.fromkeys(MAP_COLUMNS, value), "oks_ap": float(value) - 10.0}))
        attrs.update(prefixed(LOSS, dict.fromkeys(LOSS_NAMES, 0.5)))
    if state == "FAIL":
        attrs["fail_reason"] = "training diverged at step 3: loss term L_com is nan"
    attrs.update(extra_attrs or {})
    finished = state == "COMPLETE"
    return optuna.trial.create_trial(
        params={n: full[n] for n in names},
        distributions={n: FloatDistribution(0.0, 10.0) for n in names},
        value=float(value) if finished and value is not None else None,
        user_attrs=attrs,
        state=getattr(optuna.trial.TrialState, state),
        intermediate_values={0: float(value)} if value is not None else None,
    )


def make_study(
    storage: Any,
    name: str,
    runs: Iterable[tuple[Mapping[str, float], int, float | None]],
    *,
    metric: str = "Total",
    states: Mapping[int, str] | None = None,
    spec: Mapping[str, Any] | None = None,
):
    """Create study `name` in `storage` holding `runs` (γ vector, seed, value), in the tipsd schema.

    Args:
        storage: an Optuna storage URL or object.
        name: the study name.
        runs: one (gammas, seed, value) per trial, in trial order.
        metric: the ``tipsd.metric`` study attribute.
        states: trial index → state for trials that are not COMPLETE.
        spec: the ``tipsd.spec`` study attribute.

    Returns:
        The `optuna.Study`.

    Example:
        >>> s = make_study(None, "demo", [({"gamma_info": 0.0}, 0, 83.0)])
        >>> len(s.trials)
        1
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
    spec = dict(spec or {"name": name, "preset": "tiny"})
    for key, val in {"tipsd.spec": spec, "tipsd.spec_hash": "0" * 64, "tipsd.version": "0.1.0",
                     "tipsd.description": f"demo study {name}", "tipsd.metric": metric,
                     "tipsd.direction": "maximize", "tipsd.sampler": "grid"}.items():
        study.set_user_attr(key, val)
    with warnings.catch_warnings():  # set_metric_names is "experimental" in Optuna
        warnings.simplefilter("ignore")
        study.set_metric_names([metric])
    states = dict(states or {})
    study.add_trials([make_trial(g, s, v, state=states.get(i, "COMPLETE")) for i, (g, s, v) in enumerate(runs)])
    return study


def grid_runs(
    axes: Mapping[str, Iterable[float]],
    seeds: Iterable[int],
    value: Callable[[dict[str, float], int], float],
    fixed: Mapping[str, float] | None = None,
) -> list[tuple[dict[str, float], int, float]]:
    """Every combination of `axes` × `seeds`, valued by ``value(gammas, seed)``.

    Example:
        >>> grid_runs({"gamma_info": [0, 1]}, [0], lambda g, s: g["gamma_info"])
        [({'gamma_info': 0.0}, 0, 0.0), ({'gamma_info': 1.0}, 0, 1.0)]
    """
    import itertools

    names = list(axes)
    out = []
    for combo in itertools.product(*[list(axes[n]) for n in names]):
        g = {**{k: float(v) for k, v in (fixed or {}).items()}, **dict(zip(names, map(float, combo)))}
        for s in seeds:
            out.append((g, int(s), float(value(g, s))))
    return out
