"""Benchmark of the sweep driver, measured side by side in one run.

1. Driver overhead per trial (claiming, heartbeats, user attributes, tell, ledger reads): the wall
   time of `run_study` minus the time spent inside `train`, as a fraction of the trial time, on the
   chosen preset (default `quick`), SQLite storage. Also the bare per-trial driver cost with a
   training function that returns at once.
2. Speed-up of ``--workers 2`` over ``--workers 1``: the same grid run from scratch both ways.

Run it WITHOUT OMP_NUM_THREADS: that variable caps the torch threads of every worker, and the
comparison is meant to be 1 worker x all cores against 2 workers x cores/2 (what --workers does).

Usage:
    python benchmarks/bench_sweep.py                                    # quick preset, 4 runs each
    python benchmarks/bench_sweep.py --preset tiny --runs 4             # seconds, for a smoke check
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from tipsd.model.record import LOSS_NAMES, METRIC_NAMES
from tipsd.sweep.runner import run_study
from tipsd.sweep.spec import parse_spec


class TimedTrain:
    """Wraps `tipsd.model.train.train` and keeps the seconds spent in each call."""

    def __init__(self):
        self.seconds: list[float] = []

    def __call__(self, config, **kwargs):
        from tipsd.model.train import train

        t0 = time.perf_counter()
        try:
            return train(config, **kwargs)
        finally:
            self.seconds.append(time.perf_counter() - t0)


def instant_train(config, *, on_epoch=None, **kwargs):
    """A TrainResult-shaped answer in no time: what is left is the driver's own cost."""
    for epoch in range(config.epochs):
        if on_epoch is not None:
            on_epoch(epoch, dict.fromkeys(METRIC_NAMES, 50.0))
    joints = [f"j{i}" for i in range(15)]
    return SimpleNamespace(
        metrics=dict.fromkeys(METRIC_NAMES, 50.0),
        joint_ap={j: 50.0 for j in joints}, losses=dict.fromkeys(LOSS_NAMES, 1.0),
        history=[], duration_s=0.0, frames_per_s=0.0, peak_mem_mb=0.0, device="cpu", config={})


def grid(name: str, preset: str, runs: int, epochs: int | None) -> dict:
    """A grid over gamma_s with `runs` cells and one seed."""
    values = [0.0, 0.1, 1.0, 5.0, 0.5, 2.0, 0.2, 3.0][:runs]
    raw = {"name": name, "sampler": "grid", "seeds": [0], "space": {"gamma_s": values},
           "train": {"preset": preset}}
    if epochs:
        raw["train"]["overrides"] = {"epochs": epochs}
    return raw


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--runs", type=int, default=4, help="grid cells (one seed) per measurement")
    ap.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    ap.add_argument("--instant-trials", type=int, default=30)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tipsd-bench-sweep-"))
    print(f"nproc {os.cpu_count()}, load {os.getloadavg()[0]:.2f} (1-min) at start, preset {args.preset}, "
          f"{args.runs} runs per measurement, storage SQLite in {folder}")

    # Bare driver cost: the training function returns at once.
    spec = parse_spec({**grid("instant", "tiny", 1, None), "space": {"gamma_s": [float(i) for i in range(args.instant_trials)]}})
    rep = run_study(spec, f"sqlite:///{folder}/instant.db", train_fn=instant_train, progress=False)
    per = [o.total_s - o.train_s for o in rep.outcomes]
    print(f"driver cost per trial, instant training: median {statistics.median(per) * 1000:.0f} ms, "
          f"max {max(per) * 1000:.0f} ms over {len(per)} trials")

    # Warm the dataset cache so neither measurement pays for generating it.
    from tipsd.model.config import make_config
    from tipsd.model.data import resolve_dataset

    resolve_dataset(make_config(args.preset).data, os.environ.get("TIPSD_CACHE_DIR", ""))
    # ...nor for building the decoded-crop cache (the first run of a preset builds it).
    from tipsd.model.train import train

    t0 = time.perf_counter()
    train(make_config(args.preset, {"epochs": 1}))
    print(f"warm-up run (1 epoch, builds caches): {time.perf_counter() - t0:.1f} s")

    timed = TimedTrain()
    spec1 = parse_spec(grid("w1", args.preset, args.runs, args.epochs))
    t0 = time.perf_counter()
    rep1 = run_study(spec1, f"sqlite:///{folder}/w1.db", workers=1, train_fn=timed, progress=False)
    wall1 = time.perf_counter() - t0
    train_s = sum(timed.seconds)
    over = wall1 - train_s
    print(f"workers=1: {len(rep1.outcomes)} runs in {wall1:.1f} s; in train() {train_s:.1f} s; "
          f"driver overhead {over:.2f} s = {100 * over / wall1:.2f}% of wall "
          f"({over / len(rep1.outcomes):.2f} s per trial of {wall1 / len(rep1.outcomes):.1f} s)")

    spec2 = parse_spec(grid("w2", args.preset, args.runs, args.epochs))
    t0 = time.perf_counter()
    rep2 = run_study(spec2, f"sqlite:///{folder}/w2.db", workers=2, progress=False)
    wall2 = time.perf_counter() - t0
    print(f"workers=2: {len(rep2.outcomes)} runs in {wall2:.1f} s; speed-up over workers=1: {wall1 / wall2:.2f}x")
    print(f"load {os.getloadavg()[0]:.2f} (1-min) at end")


if __name__ == "__main__":
    main()
