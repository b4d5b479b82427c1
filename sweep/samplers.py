"""Proposing loss weights: the Optuna sampler of a non-grid study, and the weights a trial suggests
from a study's `space` (grid cells are enumerated by `tipsd.sweep.jobs` instead)."""
from __future__ import annotations

from tipsd.sweep.spec import StudySpec


def make_sampler(spec: StudySpec, worker: int = 0):
    """The Optuna sampler for a non-grid spec.

    Example:
        >>> type(make_sampler(load_spec("studies/bayes.toml"))).__name__  # doctest: +SKIP
        'TPESampler'
    """
    # Local workers seeded alike would propose the same settings and collide on every claim;
    # worker i uses sampler_seed + i (worker 0, and so a one-worker run, keeps the spec's seed).
    seed = None if spec.sampler_seed is None else spec.sampler_seed + worker
    return sampler_named(spec.sampler, seed)


def sampler_named(name: str, seed: int | None):
    """The Optuna sampler for a spec's ``sampler`` name (tpe, gp, qmc; anything else: random), seeded.

    Example:
        >>> type(sampler_named("gp", 0)).__name__  # doctest: +SKIP
        'GPSampler'
    """
    import optuna.samplers as s

    if name == "tpe":
        return s.TPESampler(seed=seed)
    if name == "gp":
        return s.GPSampler(seed=seed)
    if name == "qmc":
        return s.QMCSampler(seed=seed, warn_independent_sampling=False)
    return s.RandomSampler(seed=seed)


def study_sampler(spec: StudySpec, worker: int = 0):
    """The sampler a study is opened with: grid studies choose their cells themselves (any sampler
    will do; RandomSampler is the cheapest), the others use `make_sampler`."""
    import optuna

    return optuna.samplers.RandomSampler() if spec.is_grid else make_sampler(spec, worker)


def suggest_gammas(trial, spec: StudySpec) -> dict[str, float]:
    """Suggest every searched weight from `spec.space`; returns all five weights.

    A range with ``include_zero`` is two params: ``<name>_is_zero`` (categorical True/False) and,
    only when it is False, ``<name>`` from the (log-)range; so "term off" is one clean choice the
    sampler can learn, and the log scale stays valid for the non-zero values.
    """
    searched: dict[str, float] = {}
    for name, dom in spec.space.items():
        if isinstance(dom, list):
            searched[name] = float(trial.suggest_categorical(name, dom))
        elif dom.include_zero and trial.suggest_categorical(f"{name}_is_zero", [False, True]):
            searched[name] = 0.0
        else:
            searched[name] = trial.suggest_float(name, dom.low, dom.high, log=dom.log)
    return spec.full_gammas(searched)


__all__ = ["make_sampler", "sampler_named", "study_sampler", "suggest_gammas"]
