"""Opening a crop cache: the full sha256 it used to compute on every open vs the content key now.

Usage:
    python benchmarks/bench_cache_key.py --gib 1

Writes a file of random bytes of that size to a temporary folder (removed at the end), reads it once
so both timings see a warm page cache, then times each function twice, side by side.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from tipsd.model.data import crop_cache


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0, help="file size in GiB (default 1)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "crops.npy"
        with open(path, "wb") as fh:
            for _ in range(int(args.gib * 1024)):
                fh.write(os.urandom(1 << 20))
        crop_cache._file_sha256(path)  # warm the page cache
        times = {}
        for fn in (crop_cache._file_sha256, crop_cache.content_key) * 2:
            t0 = time.perf_counter()
            fn(path)
            times.setdefault(fn.__name__, []).append(time.perf_counter() - t0)
    full, key = min(times["_file_sha256"]), min(times["content_key"])
    print(f"{args.gib:g} GiB: full sha256 {full:.3f} s, content key {key:.4f} s, x{full / key:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
