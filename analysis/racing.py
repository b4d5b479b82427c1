"""Racing (adaptive replicates): spend seeds on the cells that are not yet separated from the best.

Every cell first runs ``min_seeds`` seeds. Then, in rounds, each cell still in the race gets the next
seed, until every cell is separated from the best or has ``max_seeds``, or the run budget is spent.
Seeds are shared by all cells (round r runs seed ``seeds[r]`` on every survivor), so the comparisons
stay blocked by seed. The test is `tipsd table`'s (`tipsd.analysis.stats.blocked_comparison`): a
cell + seed additive model with the error pooled over every cell's runs, each survivor tested against
the survivor with the best mean, Holm-corrected across the survivors.

The state is a pure function of what is stored, never of memory: `racing_state` replays the rounds
from the cells × seeds matrix. Round r uses only ``seeds[:r]`` of the cells still in the race, so a
cell separated at round r (which never gets seed r+1) is separated again by every later replay, and
a killed worker's decision is recomputed, not lost. Choices (measured in docs/racing.md):

- **Why this lives in analysis/**: the race's decisions are a statistic of the stored runs; `tipsd
  table` replays them to mark separated cells, and analysis may not import sweep.
- **Level per round = alpha / rounds** (Bonferroni over the ``max − min`` rounds that can separate a
  cell): the chance that a cell tied with the best is ever separated over the whole race stays
  ≤ alpha (up to the best being chosen from the same data, as in the table), the table's guarantee
  for its single look. Testing every round at alpha lost a near-best cell in 22 % of simulated
  studies (the full grid's single look: 12 %; alpha / rounds: 3.5 %).
- **Friedman gate** (F-race's pre-test, and `tipsd table`'s): a round separates nothing unless the
  Friedman test over the survivors' complete seeds rejects at the round's level. A grid with clearly
  worse cells always rejects; when only near-ties are left, it stops the pooled test from separating
  one of them on a lucky error estimate: the simulation's near-best cells kept went from 93.5 % to
  97.5 % (clear, 3–10) for 1.3 points more runs (docs/racing.md).
- **Separated is final** (F-race): if the best cell changes later, an earlier separated cell stays
  separated; it was separated from a cell that was then the best on the same seeds.
- **A cell is separated only when worse** (fitted difference to the best > 0): with missing
  values a cell can beat the best on the seeds they share; it is then not separated.
- **Seeds are 0 .. max_seeds − 1**, in that order: the same list a fixed study ``seeds = [0, 1, 2]``
  uses, so a fixed study's stored runs can count as the race's first rounds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from tipsd.analysis.stats import blocked_comparison, friedman_rejects, holm

STATUSES = ("racing", "separated", "at_max", "stopped")  # a cell's state in the race (see `RaceState`)


@dataclass(frozen=True)
class RacingSettings:
    """What a study's ``seeds = { min, max }`` and ``[racing]`` table say.

    Example:
        >>> RacingSettings(min_seeds=3, max_seeds=5).seeds
        (0, 1, 2, 3, 4)
    """

    min_seeds: int = 3  # seeds every cell gets before any test (>= 2: a cell needs 2 seeds shared with the best to be tested)
    max_seeds: int = 12  # seeds a cell gets at most
    alpha: float = 0.05  # family-wise error of separating a cell tied with the best, over the race
    budget: int | None = None  # most runs the race may plan (the first round always runs); None = no limit
    split_alpha: bool = True  # test each round at alpha / rounds; False: at alpha (measured, not advised)
    friedman_pretest: bool = True  # separate only if the Friedman test over the survivors rejects (as the table)

    def __post_init__(self) -> None:
        for name in ("min_seeds", "max_seeds"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool):
                raise ValueError(f"racing {name} = {v!r}: expected an integer")
        if self.min_seeds < 2:
            raise ValueError(f"racing min_seeds = {self.min_seeds}: expected >= 2 "
                             "(a cell needs 2 seeds shared with the best to be tested)")
        if self.max_seeds < self.min_seeds:
            raise ValueError(f"racing max_seeds = {self.max_seeds}: expected >= min_seeds = {self.min_seeds}")
        if not (isinstance(self.alpha, (int, float)) and 0 < self.alpha < 1):
            raise ValueError(f"racing alpha = {self.alpha!r}: expected a number in (0, 1)")
        if self.budget is not None and (not isinstance(self.budget, int) or isinstance(self.budget, bool)
                                        or self.budget < 1):
            raise ValueError(f"racing budget = {self.budget!r}: expected a positive integer (runs) or None")

    @property
    def seeds(self) -> tuple[int, ...]:
        """The race's seeds in the order rounds use them: ``0 .. max_seeds − 1``."""
        return tuple(range(self.max_seeds))

    @property
    def rounds(self) -> int:
        """Rounds that can separate a cell: at ``min_seeds`` .. ``max_seeds − 1`` seeds."""
        return self.max_seeds - self.min_seeds

    @property
    def round_alpha(self) -> float:
        """Holm level of each round: ``alpha / rounds`` (or ``alpha`` with ``split_alpha=False``)."""
        return self.alpha / max(self.rounds, 1) if self.split_alpha else self.alpha


@dataclass(frozen=True)
class RaceRound:
    """One decided round: at ``n`` seeds, ``best`` led, ``survivors`` were tested, ``separated`` left."""

    n: int  # seeds every survivor had
    best: int | None  # cell index with the best mean over those seeds (None: no cell has a value)
    survivors: tuple[int, ...]  # cells in the race at this round (the best included)
    separated: tuple[int, ...]  # cells this round separated
    p_holm: tuple[float, ...]  # per survivor, Holm-adjusted p against the best (NaN: best / untested)


@dataclass(frozen=True)
class RaceState:
    """What the stored runs say about a race (`racing_state`).

    Attributes:
        status: per cell, one of `STATUSES`: ``racing`` (still gets seeds), ``separated`` (separated
            from the best at ``n[c]`` seeds with Holm p ``p_holm[c]``), ``at_max`` (survived to
            ``max_seeds``), ``stopped`` (survived, but the race ended before max: budget spent or
            every other cell separated).
        n: per cell, the seeds the race gives it (the current round for cells still racing).
        p_holm: per cell, the Holm-adjusted p at which it was separated (NaN otherwise).
        round: seeds the cells still in the race have or are getting now.
        jobs: ``(cell index, seed)`` runs needed now, seed-major; empty when waiting on nothing.
        done: True when the race needs no more runs.
        stop_reason: "" while running; "max", "separated" (one cell left) or "budget".
        runs_used: runs of the race's plan that are stored (a value, or settled without one).
        runs_planned: seeds given to every cell so far (``sum(n)``), stored or not.
        runs_full: runs of the full ``max_seeds`` grid (cells × max_seeds).
        rounds: the decided rounds, in order (for `tipsd status`).
        best: the best cell at the last decided round (None before the first decision).
    """

    status: tuple[str, ...]
    n: tuple[int, ...]
    p_holm: tuple[float, ...]
    round: int
    jobs: tuple[tuple[int, int], ...]
    done: bool
    stop_reason: str
    runs_used: int
    runs_planned: int
    runs_full: int
    rounds: tuple[RaceRound, ...]
    best: int | None

    @property
    def runs_saved(self) -> int:
        """Runs of the full grid the race will not ask for: ``max − n`` of every cell no longer racing."""
        max_n = self.runs_full // max(len(self.n), 1)
        return sum(max_n - n for n, s in zip(self.n, self.status) if s != "racing")

    @property
    def survivors(self) -> tuple[int, ...]:
        """Cells not separated (racing, at_max or stopped): the race's "could well be the best"."""
        return tuple(i for i, s in enumerate(self.status) if s != "separated")


def race_matrix(
    records: Iterable[tuple[str, int, float]], cells: Sequence[str], settings: RacingSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Cells × race-seeds matrix from stored runs, for `racing_state`.

    Args:
        records: ``(cell key, seed, value)`` of every settled job (the ledger's done and exhausted
            jobs); a non-finite value (diverged, pruned, given up) settles the job without a value.
            Cells or seeds outside `cells` / ``settings.seeds`` are ignored.
        cells: every cell of the study, in the driver's fixed order (rows; a cell with nothing stored
            yet is still a row, unlike `cell_seed_matrix`).
        settings: the race's settings (columns are ``settings.seeds``).

    Returns:
        ``(x, settled)``, both of shape ``(len(cells), max_seeds)``: the mean of a job's finite
        values (duplicates averaged in sorted order, so the result does not depend on the order runs
        finished in; NaN where none) and True where a job is settled, with or without a value.

    Example:
        >>> x, s = race_matrix([("a", 0, 1.0), ("a", 1, float("nan"))], ["a", "b"], RacingSettings(2, 2))
        >>> x.tolist(), s.tolist()
        ([[1.0, nan], [nan, nan]], [[True, True], [False, False]])
    """
    row = {c: i for i, c in enumerate(cells)}
    col = {s: j for j, s in enumerate(settings.seeds)}
    found: dict[tuple[int, int], list[float]] = {}
    settled = np.zeros((len(cells), len(col)), dtype=bool)
    for cell, seed, value in records:
        i, j = row.get(cell), col.get(seed)
        if i is None or j is None:
            continue
        settled[i, j] = True
        if value is not None and math.isfinite(value):
            found.setdefault((i, j), []).append(float(value))
    x = np.full(settled.shape, np.nan)
    for (i, j), vals in found.items():
        x[i, j] = float(np.mean(sorted(vals)))
    return x, settled


def _align(x: np.ndarray, seeds: Sequence[int], settings: RacingSettings) -> np.ndarray:
    """Columns of `x` (labelled `seeds`) reordered to ``settings.seeds``; NaN for a seed not stored."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] != len(seeds):
        raise ValueError(f"x has shape {x.shape}: expected (cells, {len(seeds)}) for seeds {list(seeds)}")
    col = {int(s): j for j, s in enumerate(seeds)}
    out = np.full((x.shape[0], settings.max_seeds), np.nan)
    for k, s in enumerate(settings.seeds):
        if s in col:
            out[:, k] = x[:, col[s]]
    return out


def decide_round(
    x: np.ndarray, alive: np.ndarray, settings: RacingSettings, higher_is_better: bool = True
) -> RaceRound:
    """Test every cell in the race against the best one on these seeds (one round of the race).

    Args:
        x: ``(cells, r)`` values of the round's seeds ``seeds[:r]`` (NaN where missing).
        alive: ``(cells,)`` bool, the cells in the race.
        settings: the race's settings (level ``round_alpha``, pre-test).
        higher_is_better: direction of the metric.

    Returns:
        The `RaceRound`: the best survivor (best mean over its values; ties: lowest index) and the
        survivors separated: `tipsd table`'s test (`blocked_comparison`: cell + seed model, error
        pooled over every cell's runs, separated cells included), Holm over the survivors,
        ``p_holm < round_alpha``, and worse than the best (fitted effects).

    Example:
        >>> x = np.array([[10.0, 11.0, 12.0, 10.5], [0.0, 1.1, 1.9, 0.4], [9.9, 11.2, 11.8, 10.4]])
        >>> decide_round(x, np.ones(3, bool), RacingSettings(4, 5)).separated
        (1,)
        >>> decide_round(x[:, :3], np.ones(3, bool), RacingSettings(3, 4)).separated  # Friedman p 0.097
        ()
    """
    sign = 1.0 if higher_is_better else -1.0
    alive = np.asarray(alive, dtype=bool)
    survivors = np.flatnonzero(alive)
    res = blocked_comparison(x, higher_is_better, among=alive)  # error pooled over every cell's runs
    if res["best"] is None:
        return RaceRound(x.shape[1], None, tuple(survivors.tolist()), (), (np.nan,) * survivors.size)
    p_holm = holm(res["p"][survivors])  # family: the survivors tested this round
    worse = sign * res["mean_diff"][survivors] > 0
    level = settings.round_alpha
    out = tuple(int(i) for i, p, w in zip(survivors, p_holm, worse) if np.isfinite(p) and p < level and w)
    if out and settings.friedman_pretest and not friedman_rejects(x[survivors], level):
        out = ()
    return RaceRound(x.shape[1], int(res["best"]), tuple(survivors.tolist()), out,
                     tuple(float(p) for p in p_holm))


def racing_state(
    x: np.ndarray,
    seeds: Sequence[int],
    settings: RacingSettings,
    higher_is_better: bool = True,
    *,
    settled: np.ndarray | None = None,
) -> RaceState:
    """Replay a grid study's race from its stored runs: each cell's status and the jobs needed now.

    Round r (r = min_seeds .. max_seeds − 1) is decided only when every cell still in the race has
    its runs of ``settings.seeds[:r]`` settled; until then the jobs needed are those missing runs. A
    failed run without a value that is settled counts as missing in the test (like `tipsd table`); a
    cell with under 2 values shared with the best is not tested (it keeps racing). The next round is
    started only if its runs (one per survivor) fit in ``settings.budget``.

    Args:
        x: ``(cells, len(seeds))`` stored values (NaN where none), rows in the driver's fixed cell
            order (every cell of the study, also those with nothing stored yet).
        seeds: the seed of each column of `x`; columns outside ``settings.seeds`` are ignored.
        settings: the race's settings.
        higher_is_better: direction of the metric.
        settled: optional ``x``-shaped bool, True where a job is settled without a value (diverged,
            pruned, retries exhausted); a finite value is always settled.

    Returns:
        The `RaceState`. The same stored values give the same state, whatever order they came in.

    Example:
        >>> x = np.array([[10.0, 11.0, 12.0, 10.5], [0.0, 1.1, 1.9, 0.4], [9.9, 11.2, 11.8, 10.4]])
        >>> st = racing_state(x, [0, 1, 2, 3], RacingSettings(min_seeds=4, max_seeds=5))
        >>> st.status, st.jobs
        (('racing', 'separated', 'racing'), ((0, 4), (2, 4)))
    """
    xr = _align(x, seeds, settings)
    have = np.isfinite(xr)
    if settled is not None:
        settled = np.asarray(settled, dtype=bool)
        if settled.shape != np.shape(x):
            raise ValueError(f"settled has shape {settled.shape}: expected x's shape {np.shape(x)}")
        have |= _align(settled.astype(float), seeds, settings) == 1.0
    n_cells, race_seeds = xr.shape[0], settings.seeds
    alive = np.ones(n_cells, dtype=bool)
    n = np.full(n_cells, settings.min_seeds)
    p_sep = np.full(n_cells, np.nan)
    status = np.array(["racing"] * n_cells, dtype=object)
    rounds: list[RaceRound] = []
    r, jobs, stop = settings.min_seeds, (), ""
    while True:
        missing = alive[:, None] & ~have[:, :r]  # (cells, r)
        if missing.any():
            jobs = tuple((int(c), race_seeds[j]) for j, c in zip(*np.nonzero(missing.T)))  # seed-major
            break
        if r == settings.max_seeds:
            stop = "max"
            break
        planned = np.arange(r)[None, :] < n[:, None]  # a separated cell's later (stray) runs are not read
        rnd = decide_round(np.where(planned, xr[:, :r], np.nan), alive, settings, higher_is_better)
        rounds.append(rnd)
        for c in rnd.separated:
            alive[c], status[c] = False, "separated"
            p_sep[c] = rnd.p_holm[rnd.survivors.index(c)]
        if alive.sum() <= 1:
            stop = "separated"
            break
        if settings.budget is not None and int(n.sum()) + int(alive.sum()) > settings.budget:
            stop = "budget"
            break
        r += 1
        n[alive] = r
    if stop:
        status[alive] = "at_max" if stop == "max" else "stopped"
    in_plan = np.arange(settings.max_seeds)[None, :] < n[:, None]
    return RaceState(
        status=tuple(status.tolist()), n=tuple(int(v) for v in n), p_holm=tuple(float(v) for v in p_sep),
        round=r, jobs=jobs, done=bool(stop), stop_reason=stop,
        runs_used=int((have & in_plan).sum()), runs_planned=int(n.sum()),
        runs_full=n_cells * settings.max_seeds, rounds=tuple(rounds),
        best=rounds[-1].best if rounds else None)


@dataclass(frozen=True)
class SettingState:
    """Where one proposed setting of a Bayesian study stands in its race against the incumbent.

    Attributes:
        status: ``racing`` (needs ``jobs``), ``separated`` (worse than the incumbent at ``n`` seeds,
            p ``p``) or ``at_max``.
        n: seeds the setting gets so far (final when not racing).
        jobs: seeds it needs now (empty when finished, or while its runs are running).
        p: the p-value at which it was separated (NaN otherwise).
    """

    status: str
    n: int
    jobs: tuple[int, ...]
    p: float

    @property
    def finished(self) -> bool:
        """True when the sampler may be told the setting's mean (it needs no more seeds)."""
        return self.status != "racing"


def setting_state(
    values: Sequence[float],
    incumbent: Sequence[float] | None,
    settings: RacingSettings,
    higher_is_better: bool = True,
    *,
    settled: Sequence[bool] | None = None,
) -> SettingState:
    """How many seeds one setting of a Bayesian study gets: the grid's rule against the incumbent.

    The setting runs ``min_seeds`` seeds, then one more per round until it is separated from (worse
    than) the incumbent or has ``max_seeds``: the same paired t-test at the same ``round_alpha`` as
    `racing_state` (Holm over a family of one). Without an incumbent (the study's first settings)
    nothing can separate it, so it runs to ``max_seeds``. A setting better than the incumbent is never
    separated; it finishes at ``max_seeds`` and becomes the next incumbent.

    Args:
        values: the setting's values in the order of ``settings.seeds`` (NaN or absent = not stored).
        incumbent: the incumbent's values in the same order: the finished (``at_max``) setting with
            the best mean, chosen by the driver; None when there is none yet.
        settings: the race's settings (``budget`` is the driver's: it stops proposing settings).
        higher_is_better: direction of the metric.
        settled: optional, True where a seed is settled without a value (like `racing_state`).

    Returns:
        The `SettingState`. It depends on the incumbent, which can change while the setting races:
        the driver makes the answer final by recording when it tells the sampler the mean, and never
        re-deciding a setting it has told.

    Example:
        >>> inc = [10.0, 11.0, 12.0, 10.5]
        >>> setting_state([5.0, 6.1, 6.9], inc, RacingSettings(3, 4)).status
        'separated'
        >>> setting_state([9.0, 11.5], inc, RacingSettings(3, 4)).jobs
        (2,)
    """
    size = settings.max_seeds

    def row(v: Sequence[float] | None) -> np.ndarray:
        out = np.full(size, np.nan)
        if v is not None:
            v = np.asarray(v, dtype=float)[:size]
            out[: v.size] = v
        return out

    x = np.vstack([row(incumbent), row(values)])  # (2, max): incumbent, setting
    have = np.isfinite(x[1])
    if settled is not None:
        have[: len(settled)] |= np.asarray(settled, dtype=bool)[:size]
    r = settings.min_seeds
    while True:
        if not have[:r].all():
            needed = tuple(settings.seeds[j] for j in np.flatnonzero(~have[:r]))
            return SettingState("racing", r, needed, np.nan)
        if r == size:
            return SettingState("at_max", r, (), np.nan)
        rnd = decide_round(x[:, :r], np.ones(2, dtype=bool), settings, higher_is_better)
        if 1 in rnd.separated:
            return SettingState("separated", r, (), rnd.p_holm[1])
        r += 1


def settings_from_spec(raw: dict) -> RacingSettings | None:
    """The race's settings from a study's stored spec (``tipsd.spec``), None for a fixed seed list.

    The spec was validated when the study was created (`tipsd.sweep.spec`); this only reads it.

    Example:
        >>> settings_from_spec({"seeds": {"min": 3, "max": 10}, "racing": {"alpha": 0.1}}).alpha
        0.1
        >>> settings_from_spec({"seeds": [0, 1]}) is None
        True
    """
    seeds = raw.get("seeds") if isinstance(raw, dict) else None
    if not isinstance(seeds, dict):
        return None
    extra = raw.get("racing") or {}
    return RacingSettings(min_seeds=int(seeds["min"]), max_seeds=int(seeds["max"]),
                          alpha=float(extra.get("alpha", RacingSettings.alpha)), budget=extra.get("budget"))


def race_of_runs(all_runs, settings: RacingSettings, higher_is_better: bool = True, max_retries: int = 2):
    """Replay a racing study's race from its trials as `load_runs(all_states=True)` gives them.

    A run is a value when COMPLETE; a PRUNED or diverged trial, or a job's failures beyond
    `max_retries`, settle its (cell, seed) without a value, as the driver's ledger does
    (`tipsd.sweep.jobs`); duplicate claims, interrupted runs, runs lost with their worker and failures
    that will be retried settle nothing. So a study stopped half way replays to the round the driver
    is in, and a finished one to the driver's race (cells in sorted order: only an exact tie of means
    could pick another best than the driver's spec order).

    Args:
        all_runs: every trial (columns ``cell``, ``seed``, ``state``, ``value``, the five weights and,
            where stored, ``diverged``, ``duplicate_of``, ``interrupted``, ``fail_reason``).
        settings: the study's `RacingSettings` (`settings_from_spec`).
        higher_is_better: the study's direction.
        max_retries: the study's ``[run] max_retries`` (failures of a job that are retried).

    Returns:
        ``(cells, state)``: a frame with one row per cell (the five weights, ``race_status``,
        ``race_n``, ``race_p``) and the `RaceState`.
    """
    import pandas as pd

    from tipsd.model.record import GAMMA_NAMES

    def has(name: str) -> pd.Series:  # the attribute is stored (duplicate_of, fail_reason)
        return all_runs[name].notna() if name in all_runs else pd.Series(False, index=all_runs.index)

    def true(name: str) -> pd.Series:  # a boolean attribute is True (diverged, interrupted)
        return all_runs[name].eq(True) if name in all_runs else pd.Series(False, index=all_runs.index)

    counted = all_runs[all_runs["cell"].notna() & ~has("duplicate_of") & ~true("interrupted")]
    kind, diverged = counted["state"], true("diverged")[counted.index]
    retried = kind.eq("FAIL") & ~diverged & has("fail_reason")[counted.index]  # no reason: worker lost
    failures = retried.groupby([counted["cell"], counted["seed"]]).transform("sum")
    trials = counted[kind.isin(["COMPLETE", "PRUNED"]) | (kind.eq("FAIL") & diverged)
                     | (retried & (failures > max_retries))]
    first = counted.drop_duplicates("cell").sort_values("cell")
    cells = first["cell"].tolist()
    records = [(c, int(s), float(v) if st == "COMPLETE" and pd.notna(v) else math.nan)
               for c, s, v, st in zip(trials["cell"], trials["seed"], trials["value"], trials["state"])
               if pd.notna(s)]
    x, settled = race_matrix(records, cells, settings)
    state = racing_state(x, settings.seeds, settings, higher_is_better, settled=settled)
    out = first[list(GAMMA_NAMES)].reset_index(drop=True)
    out["race_status"], out["race_n"], out["race_p"] = state.status, state.n, state.p_holm
    return out, state


def study_race(info, all_runs):
    """`race_of_runs`'s per-cell frame for a study (`tipsd.analysis.runs.StudyInfo`), None when the
    study does not race (a fixed seed list, or not a tipsd study)."""
    raw = info.user_attrs.get("tipsd.spec", {})
    settings = settings_from_spec(raw)
    if settings is None or "cell" not in all_runs or "value" not in all_runs:
        return None
    retries = (raw.get("run") or {}).get("max_retries", 2)  # 2: the driver's default (sweep.spec.RUN_DEFAULTS)
    return race_of_runs(all_runs, settings, info.direction != "minimize", int(retries))[0]
