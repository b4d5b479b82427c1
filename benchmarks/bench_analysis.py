"""Loading and tabulating a large stored study: tipsd's SQL reader vs Optuna's own readers.

Builds (once, cached in the output folder) a SQLite study of N trials in the tipsd storage schema
(Table II grid, 64 cells × N/64 seeds, ~40 user attributes per trial), then times, in one run:

- ``load_runs(..., method="sql")``      one SQL query per Optuna table, pivoted in pandas
- ``load_runs(..., method="optuna")``   ``study.get_trials`` + the same tidying
- ``study.trials_dataframe()``          Optuna's own frame (the usual baseline)
- ``build_table`` + ``render_table``    aggregation, paired tests, bootstrap, Markdown

Usage:
    OMP_NUM_THREADS=1 python benchmarks/bench_analysis.py [--trials 10000] [--repeat 3] [--dir /tmp/tipsd-bench]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path


def build(url: str, n: int) -> None:
    import numpy as np

    from tipsd.analysis.demo_study import make_study
    from tipsd.analysis.paper import paper_runs

    cells = paper_runs("table2").to_dict("records")
    rng = np.random.default_rng(0)
    runs = []
    for i in range(n):
        c = cells[i % len(cells)]
        g = {k: c[k] for k in ("gamma_com", "gamma_var", "gamma_red")}
        runs.append((g, i // len(cells), float(c["value"] + rng.normal(0, 0.2))))
    make_study(url, "bench", runs)


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default="/tmp/tipsd-bench")
    args = ap.parse_args()

    import optuna

    from tipsd.analysis.runs import load_runs
    from tipsd.analysis.tables import build_table, render_table

    Path(args.dir).mkdir(parents=True, exist_ok=True)
    db = Path(args.dir) / f"bench-{args.trials}.db"
    url = f"sqlite:///{db}"
    if not db.exists():
        t = time.perf_counter()
        build(url, args.trials)
        print(f"built {args.trials}-trial study in {time.perf_counter() - t:.1f} s ({db})")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="bench", storage=url)
    print(f"python {platform.python_version()}, optuna {optuna.__version__}, nproc {os.cpu_count()}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}, median of {args.repeat}")
    t_sql, runs = timed(lambda: load_runs(url, "bench", method="sql"), args.repeat)
    t_opt, _ = timed(lambda: load_runs(url, "bench", method="optuna"), args.repeat)
    # A fresh Study each time: a reused one answers from Optuna's in-process trial cache.
    t_tdf, tdf = timed(lambda: optuna.load_study(study_name="bench", storage=url).trials_dataframe(), args.repeat)
    t_warm, _ = timed(lambda: study.trials_dataframe(), args.repeat)
    t_tab, _ = timed(lambda: render_table(build_table(runs), "markdown"), args.repeat)
    print(f"{'step':48s} {'seconds':>8s} {'vs trials_dataframe':>20s}")
    for name, sec in [("load_runs (sql: one query per table)", t_sql),
                      ("load_runs (optuna: study.get_trials)", t_opt),
                      ("load_study().trials_dataframe() (Optuna, cold)", t_tdf),
                      ("study.trials_dataframe() (Optuna, cached study)", t_warm),
                      ("build_table + render_table (64 cells)", t_tab),
                      ("load_runs (sql) + table", t_sql + t_tab)]:
        print(f"{name:48s} {sec:8.2f} {t_tdf / sec:19.1f}x")
    print(f"rows: tipsd {len(runs)} x {runs.shape[1]} columns; trials_dataframe {tdf.shape[0]} x {tdf.shape[1]}")


if __name__ == "__main__":
    main()
