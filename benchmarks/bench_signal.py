"""Does the main job answer its question? The Table I grid on `quick`, and how much of it is signal.

Usage:
    python benchmarks/bench_signal.py [--seeds 0,1,2] [--workers 2] [--set key=value ...] [--keep DIR]

Writes a copy of `studies/table1.toml` with the given seeds (and training overrides), runs it with
`tipsd run STUDY --workers N` exactly as the README's main job does (a fresh SQLite storage in a
temporary folder, or in --keep DIR), then prints from what was stored: the wall time of the run,
the median within-cell seed std of Total mAP, the ANOVA F and p over the 16 cells (seed-blocked when
every cell has the same seeds), the intraclass correlation, the smallest detectable paired
difference, the paper-best cell's mean (gamma_info = 1, gamma_s = 0.1) and the best cell.
The synthetic data and crop caches are built on first use (in the user's cache) and reused; a
first run includes that time.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def study_text(seeds: list[int], overrides: dict[str, str], name: str) -> str:
    """studies/table1.toml with its name, seeds and [train] overrides replaced."""
    text = (ROOT / "studies" / "table1.toml").read_text(encoding="utf-8")
    text = re.sub(r'(?m)^name = ".*"$', f'name = "{name}"', text)
    text = re.sub(r"(?m)^seeds = .*$", f"seeds = {seeds}", text)
    if overrides:
        pairs = ", ".join(f"{k} = {v}" for k, v in overrides.items())
        text = text.rstrip() + f"\noverrides = {{ {pairs} }}\n"
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="training override (TOML value), e.g. --set epochs=10")
    parser.add_argument("--keep", default="", help="folder for the study file and storage (default: a temp dir)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    overrides = dict(pair.split("=", 1) for pair in args.set)

    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="tipsd-signal-"))
    folder.mkdir(parents=True, exist_ok=True)
    study = folder / "table1-signal.toml"
    study.write_text(study_text(seeds, overrides, "table1"), encoding="utf-8")
    storage = f"sqlite:///{folder / 'signal.db'}"
    load_start = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(["tipsd", "run", str(study), "--storage", storage, "--workers", str(args.workers)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - t0
    (folder / "run.log").write_text(proc.stdout, encoding="utf-8")  # the per-trial lines of the run
    if proc.returncode != 0:
        print(proc.stdout[-3000:], file=sys.stderr)
        return proc.returncode

    from tipsd.analysis.runs import load_runs
    from tipsd.analysis.signal import render_signal, signal_summary

    runs = load_runs(storage, "table1")
    s = signal_summary(runs)
    cells = runs.groupby(["gamma_info", "gamma_s"])["value"].agg(["mean", "std", "count"])
    paper_best = cells.loc[(1.0, 0.1), "mean"] if (1.0, 0.1) in cells.index else float("nan")
    best = cells["mean"].idxmax()
    print(f"machine: {os.cpu_count()} CPUs, load average at start {load_start:.2f}, at end {os.getloadavg()[0]:.2f}")
    print(f"runs: {len(runs)} finished, seeds {seeds}, workers {args.workers}, overrides {overrides or '-'}")
    print(f"wall time: {wall:.1f} s")
    print(f"median within-cell seed std: {s.median_seed_std:.3f}")
    print(f"ANOVA ({s.design}): F = {s.f:.2f}, p = {s.p:.3g}")
    print(f"ICC: {s.icc:.3f}")
    print(f"smallest detectable paired difference: {s.detectable_paired:.2f}")
    print(f"paper-best (gamma_info=1, gamma_s=0.1) mean Total: {paper_best:.2f}")
    print(f"best cell gamma_info={best[0]:g}, gamma_s={best[1]:g}: {cells['mean'].max():.2f}")
    print(render_signal(s).footer)
    print(f"storage: {storage}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
