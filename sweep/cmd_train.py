"""`tipsd train`: one training run, its metrics printed as a table or JSON.

See tipsd.sweep.cli for the registration protocol.
"""
from __future__ import annotations

import argparse
import json

EXAMPLE = """example:
  tipsd train --preset tiny --set gamma_s=0.5 --set epochs=3
  tipsd train --preset quick --checkpoint-dir runs/q0 --resume --format json"""


def register(subparsers) -> None:
    """Add `tipsd train` to the `tipsd` parser."""
    p = subparsers.add_parser(
        "train", help="train one model and print its validation metrics",
        description="Train one TIPSD model with the given preset and overrides, evaluate it on the "
        "val split, print the PoseTrack mAP table, OKS AP and the unweighted loss terms.",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--preset", default="quick", help="tiny, quick (default) or paper")
    p.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE", default=[],
                   help="override a config key (repeatable), e.g. --set gamma_info=0.1")
    p.add_argument("--checkpoint-dir", default=None, help="write checkpoint.pt and config.json here each epoch")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --checkpoint-dir")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    p.set_defaults(handler=run_train)


def format_result(result: dict) -> str:
    """The PoseTrack table, OKS AP, loss terms and timings of a `TrainResult.to_dict()` as text."""
    from tipsd.model.record import MAP_COLUMNS as cols

    m = result["metrics"]
    lines = [
        " | ".join(f"{c:>8}" for c in cols),
        " | ".join(f"{m[c]:8.1f}" for c in cols),
        f"OKS AP: {m['oks_ap']:.1f}",
        "losses (unweighted, last epoch): " + ", ".join(f"{k}={v:.4g}" for k, v in result["losses"].items()),
        f"device {result['device']}, {result['duration_s']:.1f} s, {result['frames_per_s']:.1f} clips/s, "
        f"peak memory {result['peak_mem_mb']:.0f} MB",
    ]
    return "\n".join(lines)


def run_train(args: argparse.Namespace) -> int:
    """Handler of `tipsd train`."""
    from tipsd.model.config import make_config, parse_overrides
    from tipsd.model.errors import ConfigError

    config = make_config(args.preset, parse_overrides(args.overrides))
    if args.resume and not args.checkpoint_dir:
        raise ConfigError("--resume needs --checkpoint-dir")
    from tipsd.model.train import train

    result = train(config, checkpoint_dir=args.checkpoint_dir, resume=args.resume).to_dict()
    if args.format == "json":
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(format_result(result))
    return 0
