"""Save and load a training checkpoint, with the resolved config (JSON) written beside it.

Layout of a checkpoint folder:

    DIR/checkpoint.pt   model + optimiser + scheduler state, the epoch just finished, the history
    DIR/config.json     the resolved TrainConfig (`config_to_dict`), for humans and for `--resume`
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from tipsd.model.config import TrainConfig, config_to_dict
from tipsd.model.errors import ConfigError, DataError

CHECKPOINT_FILE = "checkpoint.pt"
CONFIG_FILE = "config.json"


def write_config(cfg: TrainConfig, folder: str | Path) -> Path:
    """Write `cfg` as indented JSON to `folder/config.json`; returns the path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CONFIG_FILE
    path.write_text(json.dumps(config_to_dict(cfg), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def save_checkpoint(folder: str | Path, cfg: TrainConfig, state: dict[str, Any]) -> Path:
    """Atomically write `state` to `folder/checkpoint.pt` and the config beside it."""
    folder = Path(folder)
    write_config(cfg, folder)
    path = folder / CHECKPOINT_FILE
    tmp = path.with_suffix(".pt.tmp")
    torch.save({"config": config_to_dict(cfg), **state}, tmp)
    os.replace(tmp, path)  # a crash mid-write never leaves a truncated checkpoint
    return path


def load_checkpoint(folder: str | Path, cfg: TrainConfig) -> dict[str, Any] | None:
    """The checkpoint in `folder`, or None if there is none.

    Raises:
        ConfigError: the checkpoint was written by a run with a different config (resuming it
            would silently mix two runs); names the first differing key.
        DataError: the file exists but cannot be read.
    """
    path = Path(folder) / CHECKPOINT_FILE
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the same user error
        raise DataError(f"{path}: cannot read checkpoint ({type(err).__name__})") from None
    saved, now = state.get("config", {}), config_to_dict(cfg)
    for key in now:
        if key not in ("device", "val_every", "cache_dir") and saved.get(key) != now[key]:
            raise ConfigError(
                f"--resume: checkpoint {path} was trained with {key}={saved.get(key)!r}, not {now[key]!r}"
            )
    return state
