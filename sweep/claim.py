"""The claim protocol: how a worker takes a job as a RUNNING trial, and how a claim that lost a race
with another worker is recognised and put aside (never trained, never counted).

Grid and replicate jobs become a trial with their params and attributes in one write, so the trial
number orders competing claims: a claim that sees an earlier live or settled trial of the same job
marks itself ``duplicate_of`` and is finished as FAIL. The ledger (`tipsd.sweep.jobs`) ignores such
trials, so any number of workers on any machines agree on what is done.

The trial's first heartbeat is the claim's second write. A worker killed between the two leaves a
RUNNING trial without a heartbeat; `tipsd.sweep.heartbeat.fail_stale` gives it one, so it is failed
``grace_s`` later like any other dead worker's trial (`TIPSD_KILL_AT=claim` kills a worker exactly
there, for the kill suite).
"""
from __future__ import annotations

from tipsd.model.record import run_attrs
from tipsd.sweep.faults import kill_point
from tipsd.sweep.jobs import Job, is_counted
from tipsd.sweep.sampler_view import propose, sees_setting_means
from tipsd.sweep.samplers import suggest_gammas
from tipsd.sweep.spec import StudySpec


def claim(study, spec: StudySpec, job: Job, version: str, *, worker: int = 0):
    """Create a RUNNING trial for `job`; returns ``(trial, job)`` or ``(None, job)`` if the claim lost a race.

    A new Bayesian sample asks the sampler and suggests the weights from the space; the returned job
    then holds them. TPE and GP are asked on the per-setting view (`tipsd.sweep.sampler_view.propose`,
    seeded with `worker`) and the proposal is stored in one write like a grid job; random and QMC
    samplers ask the stored study (``study.ask``).

    Example:
        >>> trial, job = claim(study, spec, ledger(spec, study.trials).missing[0], "0.1.0")  # doctest: +SKIP
    """
    import optuna
    from optuna.trial import TrialState

    ask_stored = job.new_sample and not sees_setting_means(spec)  # random, qmc: no history to hide
    if job.new_sample and not ask_stored:
        job = propose(study, spec, worker)  # a job with params from here on, stored like a grid job
    if ask_stored:
        trial = study.ask()
        if study._storage.get_heartbeat_interval():
            study._storage.record_heartbeat(trial._trial_id)  # before the next writes (see above)
        gammas = suggest_gammas(trial, spec)
        job = Job(gammas=gammas, seed=spec.seeds[0], params=dict(trial.params), new_sample=True)
        for key, value in run_attrs(job.gammas, job.seed, preset=spec.preset, version=version).items():
            trial.set_user_attr(key, value)
    else:
        template = optuna.trial.create_trial(
            state=TrialState.RUNNING, params=job.params, distributions=job.distributions,
            user_attrs=run_attrs(job.gammas, job.seed, preset=spec.preset, version=version))
        # Study has no public "create a running trial with these params and attrs"; the storage API
        # does, in one transaction (study._storage/_study_id are the study's own handles).
        trial_id = study._storage.create_new_trial(study._study_id, template_trial=template)
        trial = optuna.trial.Trial(study, trial_id)
    kill_point("claim")
    if study._storage.get_heartbeat_interval():
        # Optuna's stale check only fails trials that have a heartbeat: beat at once, so a worker
        # killed between this claim and the start of training still leaves a trial that is failed.
        study._storage.record_heartbeat(trial._trial_id)
    rival = earlier_claim(study, trial.number, job, spec)
    if rival is not None:
        tell_duplicate(study, trial, rival)
        return None, job
    return trial, job


def earlier_claim(study, number: int, job: Job, spec: StudySpec) -> int | None:
    """Number of another live or settled trial of `job` that wins over trial `number`, if any."""
    from optuna.trial import TrialState

    key = job.key
    for t in study.get_trials(deepcopy=False):
        if t.number == number or not is_counted(t) or t.user_attrs.get("job") != key:
            continue
        if t.state == TrialState.RUNNING and t.number < number:
            return t.number
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
                t.state == TrialState.FAIL and t.user_attrs.get("diverged", False)):
            return t.number
    if not spec.is_grid and job.seed == spec.seeds[0]:
        # A Bayesian study proposes at most `budget` settings, even with racing workers.
        firsts = sorted({t.user_attrs.get("cell"): t.number for t in reversed(study.get_trials(deepcopy=False))
                         if is_counted(t)}.values())
        if number in firsts and firsts.index(number) >= spec.budget:
            return firsts[spec.budget - 1]
    return None


def tell_duplicate(study, trial, rival: int) -> None:
    """Finish `trial` as a duplicate of trial `rival`: FAIL with ``duplicate_of``, never counted."""
    import optuna

    trial.set_user_attr("duplicate_of", rival)
    trial.set_user_attr("fail_reason", f"duplicate claim: trial {rival} already has this job")
    study.tell(trial, state=optuna.trial.TrialState.FAIL)


__all__ = ["claim", "earlier_claim", "tell_duplicate"]
