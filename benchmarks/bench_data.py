"""Data-layer timings, measured side by side in one run: synthetic generation per preset, crop-cache
build vs load, and samples/s from the cache with and without augmentation.

Usage:
    OMP_NUM_THREADS=1 python benchmarks/bench_data.py               # tiny and quick
    OMP_NUM_THREADS=1 python benchmarks/bench_data.py --presets tiny quick paper

Everything is written to a fresh temporary folder (removed at the end), so nothing is reused from an
earlier run: "build" is a cold build, "load" the second open (checksum verified) of the same cache.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from tipsd.model.config import make_config
from tipsd.model.data import PoseTrackClips, generate_dataset


def _du_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def bench_preset(preset: str, work: Path, items: int) -> list[str]:
    cfg = make_config(preset)
    size = (cfg.input_height, cfg.input_width)
    t0 = time.perf_counter()
    root = generate_dataset(work / f"synth-{preset}", preset, seed=0)
    gen_s = time.perf_counter() - t0
    rows = [f"{preset:6s} generate            {gen_s:8.2f} s   ({_du_mb(root):.0f} MB on disk)"]
    cache = work / f"cache-{preset}"
    for split in ("train", "val"):
        t0 = time.perf_counter()
        ds = PoseTrackClips(root, split, input_size=size, train=False, cache_dir=str(cache))
        build_s = time.perf_counter() - t0
        assert ds.cache_status == "built"
        del ds
        t0 = time.perf_counter()
        ds = PoseTrackClips(root, split, input_size=size, train=split == "train", cache_dir=str(cache))
        load_s = time.perf_counter() - t0
        assert ds.cache_status == "loaded"
        n = min(items, len(ds))
        t0 = time.perf_counter()
        for i in range(n):
            ds[i]
        per_s = n / (time.perf_counter() - t0)
        aug = "augmented" if ds.train else "plain"
        rows.append(f"{preset:6s} {split:5s} cache build   {build_s:8.2f} s   load {load_s:6.3f} s   "
                    f"{len(ds)} samples at {size[0]}x{size[1]}, {ds.crops.nbytes / 1e6:.0f} MB; "
                    f"{per_s:.0f} {aug} samples/s")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "quick"], help="tiny, quick, paper")
    parser.add_argument("--items", type=int, default=300, help="samples read for the samples/s figure")
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="tipsd-bench-data-"))
    print(f"tipsd data benchmark: nproc={os.cpu_count()} OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"
          f" torch threads={torch.get_num_threads()}")
    try:
        for preset in args.presets:
            for row in bench_preset(preset, work, args.items):
                print(row, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
