"""One setting of the `quick` preset over a few seeds: the measurement behind each lever in
docs/model.md ("The quick preset").

Usage:
    python benchmarks/bench_quick.py [--seeds 0,1,2] [--preset quick] [--set key=value ...]

Trains `make_config(preset, overrides)` once per seed, one after another in this process (one torch
thread, as a study's worker), and prints one line per seed (val Total mAP, the mAP per joint group,
wall and CPU seconds, the load average) and then the mean and the std over seeds. Without --set it
measures the preset as it is (the paper-best cell: gamma_info = 1, gamma_s = 0.1, the rest 1).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override, e.g. --set box_enlarge=0.9 (repeatable)")
    args = parser.parse_args()

    from tipsd.model.config import make_config
    from tipsd.model.train import train

    overrides = dict(pair.split("=", 1) for pair in args.set)
    totals = []
    print(f"preset {args.preset}, overrides {overrides or '-'}, {os.cpu_count()} CPUs")
    for seed in [int(s) for s in args.seeds.split(",") if s.strip()]:
        cfg = make_config(args.preset, {**overrides, "seed": seed})
        wall, cpu = time.perf_counter(), time.process_time()
        result = train(cfg)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        totals.append(result.metrics["Total"])
        groups = " ".join(f"{k} {v:.1f}" for k, v in result.metrics.items() if k not in ("Total", "oks_ap"))
        print(f"seed {seed}: Total {result.metrics['Total']:.2f}  ({groups})  wall {wall:.1f} s, "
              f"CPU {cpu:.1f} s, load {os.getloadavg()[0]:.2f}", flush=True)
    std = statistics.stdev(totals) if len(totals) > 1 else float("nan")
    print(f"mean Total {statistics.fmean(totals):.2f}, std over {len(totals)} seeds {std:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
