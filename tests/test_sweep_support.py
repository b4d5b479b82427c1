"""Shared helpers of the sweep tests: a deterministic stand-in for `tipsd.model.train.train` and
study-file writers. The stand-in lets the driver's own logic (claims, retries, pruning, workers) be
tested in milliseconds; the end-to-end tests use the real `tiny` preset."""
from __future__ import annotations

import math
import os
import time
from pathlib import Path
from types import SimpleNamespace

from tipsd.model.errors import DivergenceError
from tipsd.model.record import GAMMA_NAMES, LOSS_NAMES, MAP_COLUMNS

JOINTS = ("head_top", "left_wrist")


def fake_train(config, *, on_epoch=None, checkpoint_dir=None, resume=False):
    """A TrainResult-shaped object computed from the weights: Total peaks at gamma_info=1, gamma_s=0.1.

    gamma_s == 5 with gamma_info == 5 diverges; env TIPSD_FAKE_FAIL_ONCE=<dir> makes every job fail
    once (a marker file per job), to test retries; TIPSD_FAKE_SLEEP slows each epoch (kill tests).
    """
    g = {n: getattr(config, n) for n in GAMMA_NAMES}
    if g["gamma_info"] == 5 and g["gamma_s"] == 5:
        raise DivergenceError(3, "L_com", math.nan)
    fail_dir = os.environ.get("TIPSD_FAKE_FAIL_ONCE")
    if fail_dir:
        marker = Path(fail_dir) / f"{sorted(g.items())}-{config.seed}".replace("/", "_")
        if not marker.exists():
            marker.touch()
            raise RuntimeError("transient failure\nsecond line must not be stored")
    total = 60 + 10 * math.exp(-abs(math.log10(g["gamma_info"] + 1e-3))) - 5 * abs(g["gamma_s"] - 0.1) \
        - g["gamma_com"] * 0.5 + 0.01 * config.seed
    history = []
    for epoch in range(config.epochs):
        time.sleep(float(os.environ.get("TIPSD_FAKE_SLEEP", "0")))
        value = total * (epoch + 1) / config.epochs
        history.append({"epoch": epoch, "Total": value, "train_loss": 1.0 / (epoch + 1), "seconds": 0.0})
        if on_epoch is not None:
            on_epoch(epoch, {**dict.fromkeys(MAP_COLUMNS, value), "oks_ap": value / 2})
    metrics = {**dict.fromkeys(MAP_COLUMNS, total), "oks_ap": total / 2}
    return SimpleNamespace(
        metrics=metrics, joint_ap={j: total for j in JOINTS},
        losses=dict.fromkeys(LOSS_NAMES, 0.5),
        history=history, duration_s=0.01, frames_per_s=100.0, peak_mem_mb=1.0, device="cpu",
        config={},
    )


def noisy_train(config, **kw):
    """`fake_train` plus seed noise for racing: a shared offset per seed (sd 0.35) and the run's own
    noise (sd 0.35), both fixed by (cell, seed), so a rerun or another worker gives the same value."""
    import random

    out = fake_train(config, **kw)
    g = tuple(round(getattr(config, n), 6) for n in GAMMA_NAMES)
    noise = random.Random(f"seed-{config.seed}").gauss(0, 0.35) + random.Random(f"{g}-{config.seed}").gauss(0, 0.35)
    out.metrics = {k: v + noise for k, v in out.metrics.items()}
    return out


def write_study(folder: Path, name: str, body: str) -> Path:
    """Write `body` (TOML) to folder/name.toml and return the path."""
    path = Path(folder) / f"{name}.toml"
    path.write_text(body)
    return path


FAST_RUN = "[run]\nheartbeat_s = 1\ngrace_s = 2\nmax_retries = 2\n"


def unlabelled_val_copy(dest: Path) -> Path:
    """A copy of synth:tiny whose val split has no annotations: valid for `tipsd data check` (an
    unlabelled split, like PoseTrack's test split) and for `tipsd run`'s up-front check, but every
    training run fails on it (no validation sample): a real, fixable cause of repeated failures."""
    import json
    import shutil

    from tipsd.model.data import resolve_dataset

    shutil.copytree(resolve_dataset("synth:tiny"), dest)
    for path in (dest / "annotations" / "val").glob("*.json"):
        doc = json.loads(path.read_text())
        doc.pop("annotations")
        path.write_text(json.dumps(doc))
    return dest


def grid_study(folder: Path, name: str = "g", seeds=(0, 1), extra: str = "", gamma_info=(0, 1)) -> Path:
    """A 2x2 grid over gamma_info x gamma_s with the tiny preset (gamma_info=(1, 5): (5, 5) diverges in `fake_train`)."""
    return write_study(folder, name, f"""
name = "{name}"
description = "test grid"
sampler = "grid"
seeds = {list(seeds)}
[space]
gamma_info = {list(gamma_info)}
gamma_s = [0.1, 5]
[fixed]
gamma_com = 1
[train]
preset = "tiny"
{extra}
{FAST_RUN}
""")


def test_fake_train_is_deterministic():
    from tipsd.model.config import make_config

    cfg = make_config("tiny", {"gamma_info": 1, "gamma_s": 0.1})
    seen = []
    a = fake_train(cfg, on_epoch=lambda e, v: seen.append(e))
    assert a.metrics == fake_train(cfg).metrics
    assert seen == list(range(cfg.epochs))
