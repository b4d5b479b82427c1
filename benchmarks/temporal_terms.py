"""Do the temporal terms matter? mAP with all five gamma at 0 vs the paper's best setting, over seeds.

Usage:
    OMP_NUM_THREADS=1 python benchmarks/temporal_terms.py [--preset quick] [--seeds 0,1,2]
        [--set key=value ...] [--threads 1]

Trains, for each seed, one model with gamma_info = gamma_s = gamma_com = gamma_var = gamma_red = 0
(localization only) and one with the paper's best weights (gamma_info=1, gamma_s=0.1,
gamma_com=gamma_var=gamma_red=1), then prints per-seed mAP Total, the mean, the seed-to-seed standard
deviation, and the mean paired difference (same seed = same initialisation and data order).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from tipsd.model.config import make_config, parse_overrides
from tipsd.model.train import train

SETTINGS = {
    "all gamma = 0": dict(gamma_info=0, gamma_s=0, gamma_com=0, gamma_var=0, gamma_red=0),
    "paper best": dict(gamma_info=1, gamma_s=0.1, gamma_com=1, gamma_var=1, gamma_red=1),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    extra = parse_overrides(args.overrides)
    print(f"preset {args.preset} {extra or ''}, seeds {seeds}, nproc {os.cpu_count()}, "
          f"threads {args.threads}, load at start {os.getloadavg()}")
    totals: dict[str, list[float]] = {name: [] for name in SETTINGS}
    for seed in seeds:
        for name, gammas in SETTINGS.items():
            t0 = time.perf_counter()
            r = train(make_config(args.preset, {**extra, **gammas, "seed": seed}))
            totals[name].append(r.metrics["Total"])
            print(f"  seed {seed} {name:14} Total {r.metrics['Total']:5.1f}  OKS AP {r.metrics['oks_ap']:5.1f}"
                  f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
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
