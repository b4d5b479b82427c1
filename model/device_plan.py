"""Which speed-ups a run uses on its device, decided by pure functions (testable on any machine).

On CUDA a step is launch- and bandwidth-bound for small nets and compute-bound for the `paper` one,
so the GPU path turns on: bf16 autocast (`amp`), channels_last weights (cuDNN's NHWC kernels are the
fast ones under bf16), the fused AdamW kernel (one launch for every parameter instead of one per
tensor), `torch.compile` (when the config asks; a compile that fails falls back to eager, see
`tipsd.model.member`), and uint8 crops kept on the GPU and augmented there when they fit in memory.
On the CPU every one of these is off: the CPU path stays the one that is tested bit for bit.
"""
from __future__ import annotations

from dataclasses import dataclass

# The crop cache is copied to the GPU only if it takes at most this share of the free memory
# (the rest is for the networks' activations, several of them under --batch-trials).
CROPS_SHARE_OF_FREE = 0.4


@dataclass(frozen=True)
class DevicePlan:
    """The speed-ups of one run (all False on the CPU).

    Attributes:
        amp: bf16 autocast around the forward passes.
        channels_last: network weights (and hence activations) in NHWC memory format.
        fused_adamw: `torch.optim.AdamW(fused=True)`.
        compile: wrap the network in `torch.compile` (with an eager fallback).
    """

    amp: bool = False
    channels_last: bool = False
    fused_adamw: bool = False
    compile: bool = False


def device_plan(device_type: str, *, amp: bool, compile: bool, compile_available: bool = True) -> DevicePlan:
    """The speed-ups for a device type ("cpu", "cuda", "mps", ...) and the config's `amp`/`compile` keys.

    Args:
        device_type: `torch.device.type`.
        amp: config key `amp` (bf16 autocast wanted).
        compile: config key `compile` (torch.compile wanted).
        compile_available: whether this torch can compile (`torch.compile` exists and a C compiler /
            Triton is there); a False here means eager, never an error.

    Returns:
        A `DevicePlan`; every flag is False unless `device_type == "cuda"`.

    Example:
        >>> device_plan("cpu", amp=True, compile=True)
        DevicePlan(amp=False, channels_last=False, fused_adamw=False, compile=False)
    """
    if device_type != "cuda":
        return DevicePlan()
    return DevicePlan(amp=amp, channels_last=True, fused_adamw=True, compile=compile and compile_available)


def crops_on_device(device_type: str, crop_bytes: int, free_bytes: int) -> bool:
    """Whether a split's uint8 crop cache (`crop_bytes`) is copied to the device once.

    True on CUDA when it takes at most `CROPS_SHARE_OF_FREE` of `free_bytes`; otherwise each batch's
    crops are gathered on the host and copied (still uint8, warped on the device).

    Example:
        >>> crops_on_device("cuda", 2 * 2**30, 80 * 2**30), crops_on_device("cpu", 1, 2**40)
        (True, False)
    """
    return device_type == "cuda" and crop_bytes <= CROPS_SHARE_OF_FREE * free_bytes


def auto_batch_trials(device_type: str, free_bytes: int, trial_bytes: int, limit: int = 64) -> int:
    """K for ``--batch-trials auto``: how many settings train together in one process.

    Args:
        device_type: `torch.device.type`; anything but "cuda" gives 1 (batching does not pay on a
            CPU: docs/benchmarks.md, "Batched trials").
        free_bytes: free device memory (`torch.cuda.mem_get_info()[0]`).
        trial_bytes: peak memory of one setting's training step, measured (`probe_trial_bytes`).
        limit: the most settings in one batch.

    Returns:
        ``min(limit, floor(0.8 * free_bytes / trial_bytes))``, at least 1 (20 % kept free for the
        allocator's fragmentation and the validation pass).

    Example:
        >>> auto_batch_trials("cuda", 80 * 2**30, 2 * 2**30), auto_batch_trials("cpu", 2**40, 1)
        (32, 1)
    """
    if device_type != "cuda" or trial_bytes <= 0:
        return 1
    return max(1, min(limit, int(0.8 * free_bytes // trial_bytes)))


__all__ = ["CROPS_SHARE_OF_FREE", "DevicePlan", "auto_batch_trials", "crops_on_device", "device_plan"]
