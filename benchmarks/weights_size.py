"""Bytes of one kept weights file (`[run] keep_weights`) per preset: a fresh network of each preset
written by `tipsd.model.weights.save_weights` (the trained one has the same tensors, so the same size).

    python -m benchmarks.weights_size   # (python benchmarks/weights_size.py would import benchmarks/signal.py as `signal`)
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from tipsd.model.config import PRESETS, config_to_dict, make_config
from tipsd.model.net.tipsd_net import TIPSDNet
from tipsd.model.weights import network_state, save_weights

if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        for preset in PRESETS:
            cfg = make_config(preset)
            net = TIPSDNet(cfg.widths, cfg.blocks, cfg.feat_dim, heatmap_stride=cfg.heatmap_stride)
            path = save_weights(Path(tmp) / f"{preset}.pt", config_to_dict(cfg), network_state(net))
            params = sum(p.numel() for p in net.parameters())
            print(f"{preset}: {path.stat().st_size:,} bytes, {params:,} parameters")
