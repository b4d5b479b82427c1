"""Optuna samplers and pruners built from a validated study spec (`tipsd.sweep.spec.StudySpec`)."""
from __future__ import annotations

from tipsd.sweep.spec import SpecError, StudySpec


def make_pruner(spec: StudySpec):
    """The Optuna pruner the spec names (`NopPruner` for ``none``).

    Example:
        >>> type(make_pruner(load_spec("studies/bayes.toml"))).__name__  # doctest: +SKIP
        'MedianPruner'
    """
    import optuna.pruners as p

    kind = spec.pruner["type"]
    kwargs = {k: v for k, v in spec.pruner.items() if k != "type"}
    classes = {"none": p.NopPruner, "median": p.MedianPruner, "percentile": p.PercentilePruner,
               "threshold": p.ThresholdPruner, "successive_halving": p.SuccessiveHalvingPruner,
               "hyperband": p.HyperbandPruner}
    try:
        return classes[kind](**kwargs)
    except (TypeError, ValueError) as err:
        raise SpecError(f"{spec.path}: pruner = {spec.pruner!r}: {err}") from None


def make_sampler(spec: StudySpec, worker: int = 0):
    """The Optuna sampler for a non-grid spec (grid cells are enumerated by the driver instead).

    Example:
        >>> type(make_sampler(load_spec("studies/bayes.toml"))).__name__  # doctest: +SKIP
        'TPESampler'
    """
    import optuna.samplers as s

    # Local workers seeded alike would propose the same settings and collide on every claim;
    # worker i uses sampler_seed + i (worker 0, and so a one-worker run, keeps the spec's seed).
    seed = None if spec.sampler_seed is None else spec.sampler_seed + worker
    if spec.sampler == "tpe":
        return s.TPESampler(seed=seed)
    if spec.sampler == "gp":
        return s.GPSampler(seed=seed)
    if spec.sampler == "qmc":
        return s.QMCSampler(seed=seed, warn_independent_sampling=False)
    return s.RandomSampler(seed=seed)
