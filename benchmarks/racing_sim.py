"""Racing simulation (issue 13, acceptance 1): does the race keep the best cells, and what does it save?

No training: a fake train function gives run (study, cell, seed) the value

    value = true mean of the cell + shared offset of the seed + own noise of the run

where the seed's offset is common to every cell of the study (runs with one seed share data order,
augmentation and initialisation, so they are correlated) and the run's own noise is not. ``--noise`` is
the sd of one run around its cell's mean (what `tipsd table` shows as ± std); ``--shared`` the share of
that variance common to a seed (the correlation of two cells' runs on one seed). Paired differences
then have sd ``noise · √(2 · (1 − shared))``.

Configurations (16 cells, mAP points, metric maximised):

- ``clear``: Table I's range (3.2 points) with a clear best, two near-best cells (0.1 and 0.15 below)
  and the rest spread from 0.5 to 3.2 below the best.
- ``table1``: the published Table I means (harder: 12 cells within 1 point of the best).
- ``clear-unstable``: ``clear`` with the near-best cell 0.1 below the best 3× as noisy (its own noise;
  the quick Table I study's seed std ranged 0.2–3.6 across cells): a stress test of the pooled error.

δ (default): one standard error of a paired difference at ``max`` seeds, ``sd_d / √max``. Cells
within δ of the best are those the full ``max``-seed grid cannot rank either (the one-standard-error
rule of model selection; a single paired test at max seeds finds a gap of one SE with power ≈ 0.15).
For reference every line also gives the same criterion for the full grid tested once by `tipsd table`.

Usage:
    python benchmarks/racing_sim.py [--studies 200] [--seed 0] [--noise 0.5] [--shared 0.5]
        [--delta D] [--configs clear,table1] [--grids 3:10,3:12] [--compare] [--stepwise] [--per-cell]
"""
from __future__ import annotations

import argparse
import dataclasses
import platform
import time

import numpy as np

from tipsd.analysis.racing import RaceState, RacingSettings, decide_round, racing_state

TABLE1 = [83.0, 83.5, 83.9, 83.7, 85.4, 85.9, 85.3, 85.2, 85.6, 86.2, 85.8, 85.5, 85.5, 85.8, 85.7, 85.3]
CLEAR_GAPS = [0, 0.1, 0.15, 0.5, 1.0, 1.5, 1.8, 2.0, 2.2, 2.4, 2.6, 2.8, 2.9, 3.0, 3.1, 3.2]
CONFIGS = {  # true cell means, and each cell's multiplier of the run's own noise (default 1)
    "clear": ([86.2 - g for g in CLEAR_GAPS], None),
    "table1": (TABLE1, None),
    "clear-unstable": ([86.2 - g for g in CLEAR_GAPS], [1.0, 3.0] + [1.0] * 14),
}


def fake_runs(means, studies: int, max_seeds: int, noise: float, shared: float, seed: int,
              scale=None) -> np.ndarray:
    """Every value the fake train function would return: ``(studies, cells, max_seeds)``.

    `scale` (per cell, default 1) multiplies the run's own noise."""
    rng = np.random.default_rng(seed)
    mu = np.asarray(means, dtype=float)[None, :, None]
    scale = np.ones(mu.shape[1]) if scale is None else np.asarray(scale, dtype=float)
    offset = rng.standard_normal((studies, 1, max_seeds)) * noise * np.sqrt(shared)  # one per seed
    own = rng.standard_normal((studies, mu.shape[1], max_seeds)) * noise * np.sqrt(1 - shared)
    return mu + offset + own * scale[None, :, None]


def stepwise_race(runs: np.ndarray, settings: RacingSettings) -> RaceState:
    """Race one study as the driver will: ask for the jobs, "train" them, store, ask again."""
    stored = np.full(runs.shape, np.nan)  # (cells, max_seeds): what the storage holds
    state = racing_state(stored, settings.seeds, settings)
    while not state.done:
        for cell, seed in state.jobs:
            stored[cell, seed] = runs[cell, seed]
        state = racing_state(stored, settings.seeds, settings)
    return state


def simulate(means, settings: RacingSettings, *, studies: int = 200, noise: float = 0.5, shared: float = 0.5,
             delta: float | None = None, seed: int = 0, method: str = "race", scale=None) -> dict:
    """Race `studies` simulated studies of cells with true `means`; the acceptance figures.

    Args:
        scale: per cell, multiplier of the run's own noise (default 1).
        method: "race" (`racing_state` on each study's full matrix: round r only reads seeds[:r] of
            the survivors, so this is the race the driver runs; `stepwise_race` checks it), "stepwise"
            (the driver loop itself), "full" (the full grid, tested once by `tipsd table`'s test).

    Returns:
        ``keep`` (share of studies where the true best and every cell within δ survive), ``best_kept``,
        ``false_elim`` (share of the cells within δ, over all studies, that were separated), ``runs_mean``
        and ``runs_max`` (runs as a share of the full grid), ``delta``, ``near`` (cells within δ), and per
        cell ``n_mean`` (mean seeds it got) and ``survived`` (share of studies it was not separated).
    """
    mu = np.asarray(means, dtype=float)
    runs = fake_runs(mu, studies, settings.max_seeds, noise, shared, seed, scale)
    if delta is None:
        delta = noise * np.sqrt(2 * (1 - shared)) / np.sqrt(settings.max_seeds)
    near = mu >= mu.max() - delta - 1e-9
    survived = np.zeros((studies, mu.size), dtype=bool)
    n = np.zeros((studies, mu.size), dtype=int)
    for s in range(studies):
        if method == "full":  # tipsd table's single look at max seeds (alpha, not split)
            table = dataclasses.replace(settings, split_alpha=False)
            rnd = decide_round(runs[s], np.ones(mu.size, dtype=bool), table)
            survived[s] = ~np.isin(np.arange(mu.size), rnd.separated)
            n[s] = settings.max_seeds
            continue
        state = (stepwise_race if method == "stepwise" else _replay)(runs[s], settings)
        survived[s] = [st != "separated" for st in state.status]
        n[s] = state.n
    full = mu.size * settings.max_seeds
    return {
        "keep": float(survived[:, near].all(axis=1).mean()),
        "best_kept": float(survived[:, int(np.argmax(mu))].mean()),
        "false_elim": float((~survived[:, near]).mean()),
        "runs_mean": float(n.sum(axis=1).mean() / full),
        "runs_max": float(n.sum(axis=1).max() / full),
        "delta": float(delta),
        "near": int(near.sum()),
        "n_mean": n.mean(axis=0).tolist(),  # per cell, mean seeds the race gave it
        "survived": survived.mean(axis=0).tolist(),  # per cell, share of studies it survived
    }


def _replay(runs: np.ndarray, settings: RacingSettings) -> RaceState:
    return racing_state(runs, settings.seeds, settings)


VARIANTS = {  # --compare: the design choices measured in docs/racing.md
    "race (alpha/rounds)": ("race", {}),
    "alpha every round": ("race", {"split_alpha": False}),
    "no Friedman gate": ("race", {"friedman_pretest": False}),
    "full grid, table's test": ("full", {}),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--studies", type=int, default=200, help="simulated studies per line")
    ap.add_argument("--seed", type=int, default=0, help="seed of the fake runs")
    ap.add_argument("--noise", type=float, default=0.5, help="sd of one run around its cell's true mean")
    ap.add_argument("--shared", type=float, default=0.5, help="share of that variance common to one seed")
    ap.add_argument("--delta", type=float, default=None, help="near-best window (default: one SE at max)")
    ap.add_argument("--alpha", type=float, default=0.05, help="the race's alpha")
    ap.add_argument("--configs", default="clear,table1", help=f"comma list of {sorted(CONFIGS)}")
    ap.add_argument("--grids", default="3:10,3:12", help="comma list of min:max seeds")
    ap.add_argument("--compare", action="store_true", help="also the alternatives of docs/racing.md")
    ap.add_argument("--stepwise", action="store_true", help="race through the driver loop (slower)")
    ap.add_argument("--per-cell", action="store_true", help="also each cell's gap, mean seeds and survival")
    args = ap.parse_args(argv)
    variants = VARIANTS if args.compare else {"race (alpha/rounds)": VARIANTS["race (alpha/rounds)"]}
    print(f"{args.studies} studies, noise {args.noise}, shared {args.shared}, alpha {args.alpha}, seed "
          f"{args.seed}; Python {platform.python_version()}, {platform.machine()}")
    print("\n| config | seeds | rule | δ (cells) | best + near-best kept | best kept | near-best separated "
          "| runs mean / max (of full grid) | s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    per_cell = []
    for name in args.configs.split(","):
        for grid in args.grids.split(","):
            lo, hi = (int(v) for v in grid.split(":"))
            for label, (method, overrides) in variants.items():
                if method == "race" and args.stepwise:
                    method = "stepwise"
                settings = RacingSettings(min_seeds=lo, max_seeds=hi, alpha=args.alpha, **overrides)
                t0 = time.perf_counter()
                means, scale = CONFIGS[name]
                r = simulate(means, settings, scale=scale, studies=args.studies, noise=args.noise,
                             shared=args.shared, delta=args.delta, seed=args.seed, method=method)
                print(f"| {name} | {lo}–{hi} | {label} | {r['delta']:.3f} ({r['near']}) | {r['keep']:.1%} "
                      f"| {r['best_kept']:.1%} | {r['false_elim']:.1%} | {r['runs_mean']:.1%} / "
                      f"{r['runs_max']:.1%} | {time.perf_counter() - t0:.1f} |", flush=True)
                if args.per_cell:
                    per_cell.append((name, lo, hi, label, np.max(means) - np.asarray(means), r))
    for name, lo, hi, label, gaps, r in per_cell:
        order = np.argsort(gaps, kind="stable")
        print(f"\n{name}, seeds {lo}–{hi}, {label}: per cell (sorted by gap below the best)\n")
        print("| gap | " + " | ".join(f"{gaps[i]:.2f}" for i in order) + " |")
        print("| --- |" + " --- |" * len(order))
        print("| mean seeds | " + " | ".join(f"{r['n_mean'][i]:.1f}" for i in order) + " |")
        print("| survived | " + " | ".join(f"{r['survived'][i]:.0%}" for i in order) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
