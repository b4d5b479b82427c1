"""Training throughput and peak memory per preset, and the cost of a TIPSD step vs a single-frame step.

Usage:
    OMP_NUM_THREADS=1 python benchmarks/bench_train.py [--presets tiny,quick] [--quick-epochs 1]
        [--threads 1] [--steps 10]

Part 1 runs `train()` for each preset in its own subprocess (peak RSS is per process) and prints
clips/s of training, peak memory and wall time. Part 2 times, interleaved in one process, optimiser
steps of the TIPSD network (3 frames, five loss terms) and of a plain single-frame backbone + heatmap
head of the same widths and input size on the same random batch, and prints their ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import torch

CHILD = """
import json, sys, torch
torch.set_num_threads({threads})
from tipsd.model.config import make_config
from tipsd.model.train import train
r = train(make_config({preset!r}, {overrides!r}))
print(json.dumps(dict(fps=r.frames_per_s, mem=r.peak_mem_mb, dur=r.duration_s, total=r.metrics["Total"],
                      epochs=len(r.history))))
"""


def bench_presets(presets: list[str], quick_epochs: int, threads: int) -> None:
    print(f"{'preset':8} {'epochs':>6} {'clips/s':>8} {'peak MB':>8} {'wall s':>7} {'mAP':>6}")
    for preset in presets:
        overrides = {"epochs": quick_epochs} if preset == "quick" and quick_epochs else {}
        code = CHILD.format(threads=threads, preset=preset, overrides=overrides)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{preset:8} {r['epochs']:6d} {r['fps']:8.1f} {r['mem']:8.0f} {r['dur']:7.1f} {r['total']:6.1f}")


def bench_step_ratio(preset: str, steps: int) -> None:
    from tipsd.model.config import make_config
    from tipsd.model.net import SingleFrameNet, TIPSDNet, heatmap_mse, total_loss
    from tipsd.model.train_step import loss_terms

    cfg = make_config(preset)
    b, h, w, k = cfg.batch_size, cfg.input_height, cfg.input_width, 17
    torch.manual_seed(0)
    kpts = torch.rand(b, 3, k, 3) * torch.tensor([w, h, 1.0])
    batch = {"frames": torch.randn(b, 3, 3, h, w), "heatmaps": torch.rand(b, 3, k, h // 4, w // 4),
             "target_weight": torch.ones(b, 3, k), "keypoints": kpts}
    tipsd = TIPSDNet(cfg.widths, cfg.blocks, cfg.feat_dim)
    single = SingleFrameNet(cfg.widths, cfg.blocks)
    opt_t = torch.optim.AdamW(tipsd.parameters(), lr=1e-3)
    opt_s = torch.optim.AdamW(single.parameters(), lr=1e-3)
    gammas = torch.tensor([1.0, 0.1, 1.0, 1.0, 1.0])

    def step_tipsd():
        terms, _ = loss_terms(tipsd, batch, torch.rand(b), cfg.sigma)
        opt_t.zero_grad()
        total_loss(terms, gammas).backward()
        opt_t.step()

    def step_single():
        loss = heatmap_mse(single(batch["frames"][:, 1]), batch["heatmaps"][:, 1], batch["target_weight"][:, 1])
        opt_s.zero_grad()
        loss.backward()
        opt_s.step()

    times = {"tipsd": [], "single": []}
    for i in range(steps + 2):  # interleaved, first two of each discarded (warm-up)
        for name, fn in (("tipsd", step_tipsd), ("single", step_single)):
            t0 = time.perf_counter()
            fn()
            if i >= 2:
                times[name].append(time.perf_counter() - t0)
    med = {n: sorted(v)[len(v) // 2] for n, v in times.items()}
    print(f"\nstep cost, preset {preset} ({h}x{w}, widths {cfg.widths}, batch {b}), median of {steps}:")
    for n in ("single", "tipsd"):
        print(f"  {n:7} {1000 * med[n]:8.1f} ms/step {b / med[n]:8.1f} clips/s")
    print(f"  ratio tipsd / single-frame: {med['tipsd'] / med['single']:.2f}")
    print(f"  params: tipsd {sum(p.numel() for p in tipsd.parameters())}, "
          f"single {sum(p.numel() for p in single.parameters())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="tiny,quick")
    parser.add_argument("--quick-epochs", type=int, default=0, help="override quick's epochs (0 = preset's)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"nproc {os.cpu_count()}, threads {args.threads}, load {os.getloadavg()}, torch {torch.__version__}")
    bench_presets(args.presets.split(","), args.quick_epochs, args.threads)
    for preset in args.presets.split(","):
        bench_step_ratio(preset, args.steps)


if __name__ == "__main__":
    main()
