"""Do the temporal terms matter? mAP with all five gamma at 0 vs the paper's best setting, over seeds.

Usage:
    OMP_NUM_THREADS=1 python benchmarks/temporal_terms.py [--preset quick] [--seeds 0,1,2]
        [--set key=value ...] [--threads 1] [--jobs 1]

Trains, for each seed, one model with gamma_info = gamma_s = gamma_com = gamma_var = gamma_red = 0
(localization only) and one with the paper's best weights (gamma_info=1, gamma_s=0.1,
gamma_com=gamma_var=gamma_red=1), then prints per-seed mAP Total, the mean, the seed-to-seed standard
deviation, and the mean paired difference (same seed = same initialisation and data order).
With --jobs N, N runs train at once in separate processes (each with --threads threads).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import torch

from tipsd.model.config import make_config, parse_overrides
from tipsd.model.train import train

SETTINGS = {
    "all gamma = 0": dict(gamma_info=0, gamma_s=0, gamma_com=0, gamma_var=0, gamma_red=0),
    "paper best": dict(gamma_info=1, gamma_s=0.1, gamma_com=1, gamma_var=1, gamma_red=1),
}


def _run(preset: str, overrides: dict, threads: int) -> tuple[float, float, float]:
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    r = train(make_config(preset, overrides))
    return r.metrics["Total"], r.metrics["oks_ap"], time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (processes)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    extra = parse_overrides(args.overrides)
    print(f"preset {args.preset} {extra or ''}, seeds {seeds}, nproc {os.cpu_count()}, "
          f"threads {args.threads}, load at start {os.getloadavg()}")
    from tipsd.model.data import resolve_dataset
    resolve_dataset(make_config(args.preset, extra).data)  # generate once, before parallel runs
    jobs = [(seed, name, {**extra, **gammas, "seed": seed}) for seed in seeds for name, gammas in SETTINGS.items()]
    totals: dict[str, list[float]] = {name: [0.0] * len(seeds) for name in SETTINGS}
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(_run, args.preset, ov, args.threads) for _, _, ov in jobs]
        for (seed, name, _), fut in zip(jobs, futures):
            total, oks, secs = fut.result()
            totals[name][seeds.index(seed)] = total
            print(f"  seed {seed} {name:14} Total {total:5.1f}  OKS AP {oks:5.1f}  ({secs:.0f} s)", flush=True)
    print(f"\n| setting | {' | '.join(f'seed {s}' for s in seeds)} | mean | std over seeds |")
    print(f"| --- |{' --- |' * len(seeds)} --- | --- |")
    for name, v in totals.items():
        sd = statistics.stdev(v) if len(v) > 1 else float("nan")
        print(f"| {name} | {' | '.join(f'{x:.1f}' for x in v)} | {statistics.mean(v):.1f} | {sd:.1f} |")
    diffs = [b - a for a, b in zip(*totals.values())]
    sd = statistics.stdev(diffs) if len(diffs) > 1 else float("nan")
    print(f"\npaired difference (paper best - all zero): mean {statistics.mean(diffs):+.1f}, "
          f"per seed {', '.join(f'{d:+.1f}' for d in diffs)}, std {sd:.1f}; load at end {os.getloadavg()}")


if __name__ == "__main__":
    main()
