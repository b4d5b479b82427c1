"""A trained network's weights in one file, and the network rebuilt from it (for figures).

A weights file is what `train` evaluated at its end (the EMA copy when ``ema > 0``, else the
network), with the resolved config beside it so the architecture and the data preprocessing can be
rebuilt without the study file:

    torch.save({"format": 1, "config": config_to_dict(cfg), "model": state_dict})

Sweeps keep one per cell or per trial (`[run] keep_weights`, docs/sweep.md); `tipsd train
--checkpoint-dir DIR` writes a resumable checkpoint from which `load_checkpoint_network` takes the
same network.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch

from tipsd.model.checkpoint import CHECKPOINT_FILE
from tipsd.model.config import TrainConfig, config_keys
from tipsd.model.errors import DataError
from tipsd.model.net.tipsd_net import TIPSDNet

WEIGHTS_FORMAT = 1  # bump when the file's keys change


def network_state(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of `net`'s state dict (safe to keep after training moves on)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}


def save_weights(path: str | Path, config: dict[str, Any], state: dict[str, torch.Tensor]) -> Path:
    """Atomically write a weights file (see the module docstring); returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": WEIGHTS_FORMAT, "config": dict(config), "model": state}, tmp)
    os.replace(tmp, path)  # a reader never sees half a file
    return path


def config_from_dict(saved: dict[str, Any]) -> TrainConfig:
    """The `TrainConfig` a file recorded (keys this version does not know are ignored; lists become tuples)."""
    known = set(config_keys())
    values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in saved.items() if k in known}
    return dataclasses.replace(TrainConfig(), **values)


def build_network(cfg: TrainConfig, state: dict[str, torch.Tensor], where: str) -> TIPSDNet:
    """A `TIPSDNet` of `cfg`'s architecture holding `state`, in eval mode on the CPU.

    Raises:
        DataError: `state` does not fit the architecture (names `where`).
    """
    net = TIPSDNet(cfg.widths, cfg.blocks, cfg.feat_dim, heatmap_stride=cfg.heatmap_stride)
    try:
        net.load_state_dict(state)
    except (RuntimeError, KeyError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"{where}: weights do not fit the network of their config ({first})") from None
    return net.eval()


def _read(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(f"{path}: {what} is missing (deleted, or never kept: see [run] keep_weights)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the same user error
        raise DataError(f"{path}: cannot read {what} ({type(err).__name__})") from None


def load_network(path: str | Path) -> tuple[TIPSDNet, TrainConfig]:
    """The network and config of a weights file written by `save_weights`.

    Raises:
        DataError: the file is missing, unreadable, of another format, or does not fit its config.

    Example:
        >>> net, cfg = load_network("tipsd-artifacts/<id>")  # doctest: +SKIP
    """
    path = Path(path)
    blob = _read(path, "weights file")
    if not isinstance(blob, dict) or blob.get("format") != WEIGHTS_FORMAT or "model" not in blob:
        fmt = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        raise DataError(f"{path}: not a tipsd weights file (format {fmt!r}, expected {WEIGHTS_FORMAT})")
    cfg = config_from_dict(blob.get("config", {}))
    return build_network(cfg, blob["model"], str(path)), cfg


def load_checkpoint_network(folder: str | Path) -> tuple[TIPSDNet, TrainConfig]:
    """The network a `tipsd train --checkpoint-dir DIR` run evaluated last (its EMA copy when it kept one).

    Raises:
        DataError: no readable checkpoint in `folder`.
    """
    path = Path(folder) / CHECKPOINT_FILE
    blob = _read(path, "checkpoint")
    if not isinstance(blob, dict) or "model" not in blob or "config" not in blob:
        raise DataError(f"{path}: not a tipsd checkpoint (no model or config)")
    cfg = config_from_dict(blob["config"])
    state = blob["ema"] if blob.get("ema") is not None else blob["model"]
    return build_network(cfg, state, str(path)), cfg


__all__ = ["WEIGHTS_FORMAT", "build_network", "config_from_dict", "load_checkpoint_network", "load_network",
           "network_state", "save_weights"]
