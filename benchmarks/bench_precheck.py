"""`tipsd run`'s pre-run dataset check: the full statistics it used to compute (every image decoded)
vs the check it makes now (annotation files parsed and validated, listed images looked up).

Usage:
    python benchmarks/bench_precheck.py --preset quick --repeat 3

Uses the cached synthetic dataset of that preset (generated on first use) as a plain dataset folder
(a study's ``overrides.data = "<folder>"``: a ``synth:`` spec is not checked at all). Both are timed
side by side after one untimed pass that warms the page cache; the medians of `--repeat` runs
(wall-clock and this process's CPU time, which a loaded machine changes less) are printed.
"""
from __future__ import annotations

import argparse
import statistics
import time


def main(argv: list[str] | None = None) -> int:
    from tipsd.model.data import dataset_problem, dataset_stats, resolve_dataset
    from tipsd.sweep.runner import check_dataset
    from tipsd.sweep.spec import parse_spec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick", help="synthetic dataset preset (default quick)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each (default 3)")
    args = parser.parse_args(argv)
    root = resolve_dataset(f"synth:{args.preset}")
    spec = parse_spec({"name": "bench", "space": {"gamma_s": [1]},
                       "train": {"preset": "tiny", "overrides": {"data": str(root)}}}, "bench")
    checks = {
        "before: full statistics (images decoded)": lambda: dataset_problem(root, dataset_stats(root)),
        "after: check_dataset (images looked up)": lambda: check_dataset(spec),
    }
    for check in checks.values():  # warm the page cache for both
        check()
    stats = dataset_stats(root, check_images=False)
    images = sum(s["frames"] for s in stats.values())
    print(f"{root}: {sum(s['videos'] for s in stats.values())} annotation files, {images} images")
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in checks}
    for _ in range(args.repeat):
        for name, check in checks.items():
            start, cpu = time.perf_counter(), time.process_time()
            check()
            times[name].append((time.perf_counter() - start, time.process_time() - cpu))
    for name, runs in times.items():
        wall, cpu = (statistics.median(r[i] for r in runs) for i in (0, 1))
        print(f"{name}: median {wall:.2f} s wall, {cpu:.2f} s CPU over {args.repeat} runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
