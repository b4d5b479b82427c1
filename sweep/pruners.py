"""The pruners a study file may name, in one table, and the Optuna pruner built from a ``[pruner]``
table (validated by `tipsd.sweep.spec`, which reports a bad one as a spec error)."""
from __future__ import annotations

from typing import Any, Mapping

# Pruner name -> (its class in optuna.pruners, the keyword arguments tipsd accepts for it).
PRUNERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "none": ("NopPruner", ()),
    "median": ("MedianPruner", ("n_startup_trials", "n_warmup_steps", "interval_steps", "n_min_trials")),
    "percentile": ("PercentilePruner",
                   ("percentile", "n_startup_trials", "n_warmup_steps", "interval_steps", "n_min_trials")),
    "threshold": ("ThresholdPruner", ("lower", "upper", "n_warmup_steps", "interval_steps")),
    "successive_halving": ("SuccessiveHalvingPruner", ("min_resource", "reduction_factor", "min_early_stopping_rate")),
    "hyperband": ("HyperbandPruner", ("min_resource", "max_resource", "reduction_factor")),
}


def build_pruner(pruner: Mapping[str, Any]):
    """The Optuna pruner of a ``[pruner]`` table (``{"type": name, **arguments}``).

    Raises Optuna's own TypeError/ValueError for arguments it refuses (e.g. a threshold pruner
    without ``lower`` or ``upper``); `tipsd.sweep.spec` turns them into a spec error.

    Example:
        >>> type(build_pruner({"type": "median", "n_startup_trials": 4})).__name__
        'MedianPruner'
    """
    import optuna.pruners

    cls = getattr(optuna.pruners, PRUNERS[pruner["type"]][0])
    return cls(**{k: v for k, v in pruner.items() if k != "type"})


__all__ = ["PRUNERS", "build_pruner"]
