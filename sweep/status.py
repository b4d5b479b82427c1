"""What `tipsd status` shows: per study, trials per state, tipsd job completion, best so far."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tipsd.model.record import GAMMA_NAMES


@dataclass
class StudyStatus:
    """One study's status.

    Attributes:
        name: study name.
        states: trial state name -> count (all trials, duplicates included).
        done, total: settled-as-done jobs and jobs aimed for (tipsd studies; 0/0 otherwise).
        exhausted: jobs given up after repeated failures.
        silent: RUNNING trials without a heartbeat for over the study's ``grace_s`` (their workers
            are gone; the next `tipsd run` re-runs them).
        lost: tries whose worker died from outside (failed by the heartbeat check, re-run, not
            counted as failures).
        duplicates: trials that lost a claim race (not counted as runs).
        best_value, best_params: the best cell so far: the mean of its COMPLETE runs (None if none), and
            its weights with ``runs``, the number of runs the mean is over.
        fail_reasons: distinct fail reasons with counts.
        race: a racing grid study's `RaceState` (rounds, cells left, runs used / saved), else None.
    """

    name: str
    sampler: str = ""
    metric: str = ""
    states: dict[str, int] = field(default_factory=dict)
    done: int = 0
    total: int = 0
    exhausted: int = 0
    running: int = 0
    silent: int = 0
    lost: int = 0
    duplicates: int = 0
    best_value: float | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    fail_reasons: dict[str, int] = field(default_factory=dict)
    race: Any = None


def study_status(storage) -> list[StudyStatus]:
    """Compute every study's status from `storage` (an RDBStorage).

    Example:
        >>> [s.name for s in study_status(open_storage("sqlite:///tipsd.db"))]  # doctest: +SKIP
        ['table1']
    """
    import optuna
    from optuna.trial import TrialState

    from tipsd.sweep.companion import is_companion
    from tipsd.sweep.heartbeat import LOST_REASON, silent_running
    from tipsd.sweep.jobs import ledger, retry_from
    from tipsd.sweep.spec import SpecError, parse_spec

    out = []
    for name in optuna.get_all_study_names(storage):
        study = optuna.load_study(study_name=name, storage=storage)
        if is_companion(study.user_attrs):  # a view of another study's cells (dashboard), not a study
            continue
        trials = study.get_trials(deepcopy=False)
        st = StudyStatus(name=name, sampler=study.user_attrs.get("tipsd.sampler", ""),
                         metric=study.user_attrs.get("tipsd.metric", "value"))
        for t in trials:
            st.states[t.state.name] = st.states.get(t.state.name, 0) + 1
            if "duplicate_of" in t.user_attrs:
                st.duplicates += 1
            elif t.state == TrialState.FAIL:
                # A trial the heartbeat check failed says so itself (lost_reason); one failed by an
                # older tipsd or by Optuna alone says only what is known.
                reason = t.user_attrs.get("fail_reason") or t.user_attrs.get(LOST_REASON) or \
                    "worker died (no heartbeat; killed or crashed)"
                st.fail_reasons[reason] = st.fail_reasons.get(reason, 0) + 1
        raw = study.user_attrs.get("tipsd.spec")
        if raw:
            try:
                spec = parse_spec(raw, f"study {name}")
                led = ledger(spec, trials, retry_from(study))
                st.done, st.total, st.exhausted, st.running = len(led.done), led.total, len(led.exhausted), \
                    len(led.running)
                st.lost = sum(led.lost.values())
                st.race = led.race
                if st.running and hasattr(storage, "scoped_session"):
                    st.silent = silent_running(storage, study._study_id, spec.run["grace_s"])
            except SpecError:  # a spec from another tipsd version: show counts only
                pass
        complete = [t for t in trials if t.state == TrialState.COMPLETE and "duplicate_of" not in t.user_attrs]
        if complete:
            # First objective: a foreign multi-objective study in a shared storage has no single direction.
            pick = max if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else min
            # Best *cell* (seed mean), not best run: one lucky seed is what a sweep over seeds guards against.
            cells: dict[tuple, list] = {}
            for t in complete:
                key = tuple(t.user_attrs.get(n) for n in GAMMA_NAMES)
                cells.setdefault(key if any(v is not None for v in key) else tuple(sorted(t.params.items())),
                                 []).append(t)
            means = {key: sum(t.values[0] for t in ts) / len(ts) for key, ts in cells.items()}
            best = pick(means, key=means.get)
            runs, st.best_value = cells[best], means[best]
            first = runs[0]
            # The weights as trained (user attrs): an include_zero range's params are `<name>_is_zero`
            # plus `<name>` only when not zero, which would hide the value 0.
            searched = [n for n in GAMMA_NAMES if n in first.params or f"{n}_is_zero" in first.params]
            st.best_params = {"runs": len(runs),
                              **{n: first.user_attrs.get(n, first.params.get(n)) for n in searched}}
        out.append(st)
    return out


def format_status(rows: list[StudyStatus], url: str) -> str:
    """The text `tipsd status` prints: a header line, then a few lines per study."""
    lines = [f"{len(rows)} studies in {url}"]
    for st in rows:
        states = ", ".join(f"{k} {v}" for k, v in sorted(st.states.items())) or "no trials"
        lines.append(f"{st.name} ({st.sampler or 'not a tipsd study'}): {states}")
        if st.total:
            pct = 100.0 * st.done / st.total
            silent = f" ({st.silent} silent: worker gone, re-run by the next `tipsd run`)" if st.silent else ""
            lines.append(f"  runs: {st.done}/{st.total} done ({pct:.0f}%), {st.running} running{silent}, "
                         f"{st.exhausted} given up, {st.duplicates} duplicate claims ignored"
                         + (f", {st.lost} lost to stopped workers and re-run" if st.lost else ""))
        if st.race is not None:
            lines.append("  " + race_line(st.race))
        if st.best_value is not None:
            params = " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in st.best_params.items())
            lines.append(f"  best cell {st.metric} (seed mean): {st.best_value:.2f}  ({params})")
        for reason, n in sorted(st.fail_reasons.items(), key=lambda kv: -kv[1])[:3]:
            lines.append(f"  failed x{n}: {reason}")
    return "\n".join(lines)


def race_line(race) -> str:
    """One line on a racing study: round, cells left, separated, runs used vs the full grid.

    Example:
        >>> from tipsd.analysis.racing import RacingSettings, racing_state
        >>> import numpy as np
        >>> race_line(racing_state(np.zeros((2, 3)), [0, 1, 2], RacingSettings(2, 3)))
        "racing done (max): 3 seeds at most, 0 separated in 1 decided rounds; runs 6 used, 6 planned of the full 3-seed grid's 6 (100%), 0 saved"
    """
    left = sum(s == "racing" for s in race.status)
    separated = sum(s == "separated" for s in race.status)
    max_seeds = race.runs_full // max(len(race.n), 1)
    head = (f"racing done ({race.stop_reason}): {race.round} seeds at most" if race.done
            else f"racing: round {race.round} of {max_seeds} seeds, {left} cells racing")
    pct = 100.0 * race.runs_planned / max(race.runs_full, 1)
    return (f"{head}, {separated} separated in {len(race.rounds)} decided rounds; runs {race.runs_used} used, "
            f"{race.runs_planned} planned of the full {max_seeds}-seed grid's {race.runs_full} ({pct:.0f}%), "
            f"{race.runs_saved} saved")
