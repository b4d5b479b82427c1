"""A run's data: the train/val datasets, their batched views, and one epoch's batch stream.

Kept apart from the loop in `tipsd.model.train` because `train_batched` feeds the same stream to K
networks: the stream depends only on (data keys, seed, epoch), never on the loss weights.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

from tipsd.model.config import TrainConfig
from tipsd.model.device_plan import crops_on_device
from tipsd.model.errors import DataError


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A generator for one epoch's random draws, independent of every other epoch (resume-safe)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def is_validated(cfg: TrainConfig, epoch: int) -> bool:
    """Whether epoch `epoch` (0-based) ends with a validation pass: every `val_every`-th and the last."""
    return epoch == cfg.epochs - 1 or bool(cfg.val_every and (epoch + 1) % cfg.val_every == 0)


@dataclass
class RunData:
    """The datasets and batch views of a run (build with `prepare_data`).

    Attributes:
        train_set, val_set: `PoseTrackClips` of the two splits.
        train_batches, val_batches: their `ClipBatches` (crops on the GPU when they fit).
        batch_size: training batch size (the config's, at most the split's size).
        steps_per_epoch: full batches per epoch (the ragged last one is dropped: batch statistics need B >= 2).
    """

    train_set: object
    val_set: object
    train_batches: object
    val_batches: object
    batch_size: int
    steps_per_epoch: int

    def epoch_batches(self, cfg: TrainConfig, epoch: int) -> Iterator[tuple[dict, torch.Tensor]]:
        """One epoch's `(batch, alpha (B,))` pairs, on the batches' device.

        Sample order, augmentation and alpha all come from this epoch's generator, in this order per
        batch: a resumed run draws exactly what the uninterrupted one drew.
        """
        gen = epoch_generator(cfg.seed, epoch)
        b = self.batch_size
        order = torch.randperm(len(self.train_set), generator=gen)[: self.steps_per_epoch * b]
        for first in range(0, len(order), b):
            batch = self.train_batches.batch(order[first:first + b], gen if cfg.augment else None)
            alpha = torch.rand(b, generator=gen).to(self.train_batches.device)  # (B,) interim factors
            yield batch, alpha


def _free_bytes(device: torch.device) -> int:
    """Free memory on a CUDA device (0 elsewhere: nothing is copied there)."""
    return torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else 0


def clip_options(cfg: TrainConfig) -> dict[str, Any]:
    """The `PoseTrackClips` arguments both splits share (preprocessing: what a run's weights expect)."""
    return dict(input_size=(cfg.input_height, cfg.input_width), delta=cfg.delta, sigma=cfg.sigma, seed=cfg.seed,
                cache_dir=cfg.cache_dir, stride=cfg.heatmap_stride, box_enlarge=cfg.box_enlarge)


def clips_for(cfg: TrainConfig, split: str = "val", root: str | Path | None = None):
    """`split`'s `PoseTrackClips` with `cfg`'s preprocessing and no augmentation: the validation split
    exactly as `train` scores it (`prepare_data`'s val split) (capped at ``max_val_samples``), or the whole training split.
    `root` defaults to `resolve_dataset(cfg.data, cfg.cache_dir)`."""
    from tipsd.model.data import PoseTrackClips, resolve_dataset

    root = resolve_dataset(cfg.data, cfg.cache_dir) if root is None else root
    cap = cfg.max_val_samples if split == "val" else 0
    return PoseTrackClips(root, split, train=False, max_samples=cap, **clip_options(cfg))


def prepare_data(cfg: TrainConfig, device: torch.device) -> RunData:
    """Resolve `cfg.data`, open both splits (building their crop caches once) and their batch views.

    Raises:
        DataError: the dataset is missing or has fewer than 2 train / 1 val samples.
    """
    from tipsd.model.data import PoseTrackClips, resolve_dataset
    from tipsd.model.data.batches import ClipBatches

    root = resolve_dataset(cfg.data, cfg.cache_dir)
    train_set = PoseTrackClips(root, "train", train=cfg.augment, max_samples=cfg.max_train_samples,
                               flip_prob=cfg.flip_prob, rot_factor=cfg.rotation, scale_factor=cfg.scale_jitter,
                               **clip_options(cfg))
    val_set = clips_for(cfg, "val", root)
    if len(train_set) < 2 or len(val_set) < 1:
        raise DataError(f"{cfg.data}: needs at least 2 train and 1 val samples, has {len(train_set)} and {len(val_set)}")
    # Batches are gathered, warped and rendered as whole tensors; the uint8 crops live on the GPU
    # when they fit, so that the host never starves it.
    views = []
    for ds in (train_set, val_set):
        crop_bytes = len(ds.index) * int(ds.crops[0].nbytes) if len(ds.index) else 0
        views.append(ClipBatches(ds, device, on_device=crops_on_device(device.type, crop_bytes, _free_bytes(device))))
    batch_size = min(cfg.batch_size, len(train_set))
    return RunData(train_set, val_set, views[0], views[1], batch_size, len(train_set) // batch_size)


__all__ = ["RunData", "clip_options", "clips_for", "epoch_generator", "is_validated", "prepare_data"]
