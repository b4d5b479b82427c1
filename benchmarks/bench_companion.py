"""Cost of keeping the dashboard's companion study current (`tipsd.sweep.companion.sync_companion`):
a Table II-sized study (64 cells, 127 of 128 runs, stored without training) in a fresh SQLite file
opened as `tipsd run` opens it; times one rebuild and one sync that finds nothing changed.

Usage:
    python benchmarks/bench_companion.py [--repeat 3]
"""
from __future__ import annotations

import os
import sys

# benchmarks/signal.py would shadow the standard library's `signal` (tipsd.sweep.interrupts needs it)
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from tipsd.analysis.demo_study import grid_runs, make_study  # noqa: E402
from tipsd.sweep.companion import cell_frame, sync_companion  # noqa: E402
from tipsd.sweep.storage import open_storage  # noqa: E402

GRID = [0, 0.1, 1, 5]


def once() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as d:
        storage = open_storage(f"sqlite:///{d}/t.db")
        axes = {"gamma_red": GRID, "gamma_var": GRID, "gamma_com": GRID}
        spec = {"name": "t2", "sampler": "grid", "seeds": [0, 1], "space": axes}
        runs = grid_runs(axes, [0, 1], lambda g, s: 80 + sum(g.values()) + 0.1 * s, fixed={"gamma_info": 1, "gamma_s": 0.1})
        study = make_study(storage, "t2", runs[:-1], spec=spec)
        cell_frame(study)  # imports (scipy) outside the timing
        t = time.perf_counter()
        assert sync_companion(storage, study)
        rebuild = time.perf_counter() - t
        t = time.perf_counter()
        assert not sync_companion(storage, study)
        return rebuild, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    for _ in range(ap.parse_args().repeat):
        rebuild, unchanged = once()
        print(f"64 cells, 127 runs, SQLite: rebuild {rebuild:.2f} s, unchanged {unchanged * 1000:.0f} ms")


if __name__ == "__main__":
    main()
