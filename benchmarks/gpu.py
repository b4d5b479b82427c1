"""The GPU path, measured side by side in one call (issue 14): four ratios and figures.

(a) runs/hour of a Table II slice on `quick`: K settings trained together on one batch stream
    (`train_batched`'s step loop) vs one at a time, for each K; from the time of `--steps` training
    steps (data included, validation excluded), runs/hour = 3600 / (seconds per step × steps per run).
(b) a `paper`-preset TIPSD step (3 frames, five loss terms) vs a plain single-frame HRNet-style step
    of the same widths (backbone + 1×1 head, MSE), same batch, same optimiser and speed-ups.
(c) the `paper` preset's training throughput (frames/s: 3 per clip), GPU utilisation and peak memory.
(d) one full `paper` run (`train`) on its synthetic data: wall-clock and Total mAP.

Usage:
    python benchmarks/gpu.py                  # on a GPU: K = 8, 16, 64; the paper preset; a full run
    python benchmarks/gpu.py --tiny           # on a CPU, in seconds (small sizes; what CI runs)

(b) and (c) use random tensors of the preset's shapes (the step alone, not the data pipeline).
"""
from __future__ import annotations

import argparse
import itertools
import time
from typing import Any, Callable

import torch

from tipsd.model.config import make_config
from tipsd.model.data.keypoints import NUM_KEYPOINTS
from tipsd.model.device_plan import device_plan
from tipsd.model.member import build_member
from tipsd.model.run_data import prepare_data
from tipsd.model.train import compile_available, peak_memory_mb, select_device, train

TABLE2_VALUES = (0.0, 0.1, 1.0, 5.0)  # gamma_com x gamma_var x gamma_red of studies/table2.toml


def _seconds_per_call(fn: Callable[[], Any], steps: int, device: torch.device, warmup: int = 2) -> float:
    """Median-free mean seconds of `fn` over `steps` calls after `warmup` (compilation, caches)."""
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - t0) / steps


def _plan(cfg, device):
    return device_plan(device.type, amp=cfg.amp, compile=cfg.compile, compile_available=compile_available())


def batched_vs_one(preset: str, ks: list[int], steps: int, overrides: dict) -> dict[str, Any]:
    """(a): seconds per step of 1 and of K settings on one stream; runs/hour and their ratio per K."""
    slice_ = [dict(gamma_com=c, gamma_var=v, gamma_red=r, gamma_info=1.0, gamma_s=0.1)
              for r, v, c in itertools.product(TABLE2_VALUES, repeat=3)]
    cfgs = [make_config(preset, {**overrides, **slice_[i % len(slice_)]}) for i in range(max(ks))]
    device = select_device(cfgs[0].device)
    data = prepare_data(cfgs[0], device)
    steps_per_run = data.steps_per_epoch * cfgs[0].epochs
    stream = itertools.chain.from_iterable(data.epoch_batches(cfgs[0], e) for e in itertools.count())

    def run_k(k: int) -> float:
        members = [build_member(c, device, steps_per_run, _plan(c, device)) for c in cfgs[:k]]
        counter = itertools.count()

        def step():
            batch, alpha = next(stream)  # one batch for all K: the data work is shared
            i = next(counter)
            for m in members:
                m.step(batch, alpha, i)

        return _seconds_per_call(step, steps, device)

    one = run_k(1)
    rows = {1: dict(step_s=one, per_setting_s=one, runs_per_hour=3600 / (one * steps_per_run), ratio=1.0)}
    for k in ks:
        t = run_k(k)
        rows[k] = dict(step_s=t, per_setting_s=t / k, runs_per_hour=3600 * k / (t * steps_per_run), ratio=k * one / t)
    return dict(preset=preset, steps_per_run=steps_per_run, device=str(device), rows=rows)


def _random_batch(cfg, device: torch.device, gen: torch.Generator) -> tuple[dict, torch.Tensor]:
    b, h, w, s = cfg.batch_size, cfg.input_height, cfg.input_width, cfg.heatmap_stride
    xy = torch.rand(b, 3, NUM_KEYPOINTS, 2, generator=gen) * torch.tensor([w - 1.0, h - 1.0])
    batch = {
        "frames": torch.randn(b, 3, 3, h, w, generator=gen),
        "heatmaps": torch.rand(b, 3, NUM_KEYPOINTS, h // s, w // s, generator=gen),
        "target_weight": torch.ones(b, 3, NUM_KEYPOINTS),
        "keypoints": torch.cat([xy, torch.ones(b, 3, NUM_KEYPOINTS, 1)], -1),
    }
    return {k: v.to(device) for k, v in batch.items()}, torch.rand(b, generator=gen).to(device)


class SingleFrameNet(torch.nn.Module):
    """The plain baseline of (b): the same HRNet-style backbone on one frame, a 1×1 heatmap head."""

    def __init__(self, widths, blocks):
        from tipsd.model.net.backbone import HRBackbone

        super().__init__()
        self.backbone = HRBackbone(widths, blocks)
        self.head = torch.nn.Conv2d(self.backbone.out_channels, NUM_KEYPOINTS, 1)

    def forward(self, x):
        return self.head(self.backbone(x))


def tipsd_vs_single(preset: str, steps: int, overrides: dict) -> dict[str, Any]:
    """(b) and (c): seconds per TIPSD step and per single-frame step; throughput, utilisation, memory."""
    cfg = make_config(preset, overrides)
    device = select_device(cfg.device)
    plan = _plan(cfg, device)
    gen = torch.Generator().manual_seed(0)
    batch, alpha = _random_batch(cfg, device, gen)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    member = build_member(cfg, device, 1000, plan)
    counter = itertools.count()
    tipsd_s = _seconds_per_call(lambda: member.step(batch, alpha, next(counter)), steps, device)
    peak = peak_memory_mb(device)
    utilisation = _utilisation(device)
    del member

    single = SingleFrameNet(cfg.widths, cfg.blocks).to(device)
    if plan.channels_last:
        single = single.to(memory_format=torch.channels_last)
    forward = torch.compile(single) if plan.compile else single
    opt = torch.optim.AdamW(single.parameters(), lr=cfg.lr, **({"fused": True} if plan.fused_adamw else {}))
    key_frames, key_targets = batch["frames"][:, 1], batch["heatmaps"][:, 1]

    def single_step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=plan.amp):
            loss = torch.nn.functional.mse_loss(forward(key_frames).float(), key_targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    single_s = _seconds_per_call(single_step, steps, device)
    return dict(preset=preset, device=str(device), input=(cfg.input_height, cfg.input_width), batch=cfg.batch_size,
                widths=cfg.widths, tipsd_step_s=tipsd_s, single_step_s=single_s, ratio=tipsd_s / single_s,
                frames_per_s=3 * cfg.batch_size / tipsd_s, peak_mem_mb=peak, utilisation=utilisation)


def _utilisation(device: torch.device) -> float | None:
    """GPU utilisation in percent over the last sample period (nvidia-ml), or None (CPU, no pynvml)."""
    if device.type != "cuda":
        return None
    try:
        return float(torch.cuda.utilization(device))
    except Exception:  # pynvml missing: not a reason to fail the benchmark
        return None


def full_run(preset: str, overrides: dict) -> dict[str, Any]:
    """(d): one `train` call of the preset; wall-clock seconds and Total mAP."""
    result = train(make_config(preset, overrides))
    return dict(preset=preset, seconds=result.duration_s, total=result.metrics["Total"], device=result.device,
                frames_per_s=result.frames_per_s)


def measure(tiny: bool, steps: int | None = None, ks: list[int] | None = None, skip_full_run: bool = False,
            no_compile: bool = False) -> dict[str, Any]:
    """Every measurement of the script, as data (`report` prints it)."""
    off = {"compile": False} if no_compile else {}
    if tiny:  # a CPU in seconds: the same code paths, small sizes
        # One torch thread, as the CPU presets train: on a shared, busy CPU, OpenMP threads that wait
        # for each other make small steps 10-40x slower (measured: 4.5 s vs 0.1 s per tiny step).
        torch.set_num_threads(1)
        steps = steps or 3
        a = batched_vs_one("tiny", ks or [2, 4], steps, {**off, "max_train_samples": 32, "max_val_samples": 16})
        small = {**off, "input_height": 64, "input_width": 64, "widths": (8, 16, 32, 64), "blocks": 1,
                 "feat_dim": 16, "batch_size": 2}
        bc = tipsd_vs_single("paper", steps, small)
        d = None if skip_full_run else full_run("tiny", {**off, "epochs": 1, "max_train_samples": 32,
                                                         "max_val_samples": 16})
    else:
        steps = steps or 20
        a = batched_vs_one("quick", ks or [8, 16, 64], steps, off)
        bc = tipsd_vs_single("paper", steps, off)
        d = None if skip_full_run else full_run("paper", off)
    return dict(a=a, bc=bc, d=d)


def report(m: dict[str, Any]) -> str:
    """The measurements as the lines the script prints."""
    a, bc, d = m["a"], m["bc"], m["d"]
    lines = [f"(a) runs/hour, Table II slice on {a['preset']} ({a['device']}, {a['steps_per_run']} steps per run, "
             "validation excluded)"]
    for k, row in a["rows"].items():
        lines.append(f"    K={k:<3d} {row['step_s'] * 1e3:9.1f} ms/step  {row['per_setting_s'] * 1e3:8.2f} ms per "
                     f"setting-step  {row['runs_per_hour']:9.1f} runs/h  x{row['ratio']:.2f} vs one at a time")
    lines.append(f"(b) {bc['preset']} step {bc['input'][0]}x{bc['input'][1]}, batch {bc['batch']}, widths {bc['widths']} "
                 f"({bc['device']}): TIPSD {bc['tipsd_step_s'] * 1e3:.1f} ms vs single-frame "
                 f"{bc['single_step_s'] * 1e3:.1f} ms: x{bc['ratio']:.2f}")
    util = "n/a" if bc["utilisation"] is None else f"{bc['utilisation']:.0f} %"
    lines.append(f"(c) {bc['preset']} training: {bc['frames_per_s']:.1f} frames/s, GPU utilisation {util}, "
                 f"peak memory {bc['peak_mem_mb']:.0f} MiB")
    lines.append("(d) full run: skipped" if d is None else
                 f"(d) full {d['preset']} run ({d['device']}): {d['seconds']:.1f} s, Total {d['total']:.2f}, "
                 f"{d['frames_per_s']:.1f} clips/s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="small sizes that run on a CPU in seconds (CI)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per measurement (default 20; --tiny 3)")
    ap.add_argument("--k", default=None, help="comma-separated K values for (a) (default 8,16,64; --tiny 2,4)")
    ap.add_argument("--skip-full-run", action="store_true", help="leave out (d)")
    ap.add_argument("--no-compile", action="store_true", help="eager everywhere (torch.compile off)")
    args = ap.parse_args(argv)
    ks = [int(k) for k in args.k.split(",")] if args.k else None
    print(report(measure(args.tiny, args.steps, ks, args.skip_full_run, args.no_compile)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
