"""`tipsd data synth` and `tipsd data check` (see tipsd.sweep.cli for the registration protocol)."""
from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    """Add ``tipsd data synth`` and ``tipsd data check`` to the `tipsd` parser."""
    data = subparsers.add_parser(
        "data", help="generate the synthetic dataset or check a PoseTrack18 folder",
        description="Datasets in the PoseTrack18 layout.\n\nExample:\n  tipsd data synth --out data/synth-quick"
        "\n  tipsd data check data/synth-quick",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", parser_class=type(data))
    data.set_defaults(handler=lambda args: _missing_subcommand(data))

    synth = sub.add_parser(
        "synth", help="write a synthetic PoseTrack18-format video dataset",
        description="Render synthetic videos (articulated people, camera motion, motion blur, occluders, "
        "defocus) and write frames + per-video JSON with train/val splits.\n\n"
        "Example:\n  tipsd data synth --out data/synth-tiny --preset tiny --seed 0",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    synth.add_argument("--out", required=True, help="output folder (created)")
    synth.add_argument("--preset", default="quick", help="tiny, quick (default) or paper")
    synth.add_argument("--seed", type=int, default=0, help="generator seed (same seed, same bytes)")
    synth.set_defaults(handler=_synth)

    check = sub.add_parser(
        "check", help="validate a PoseTrack18 folder and print its statistics",
        description="Validate every annotation file and image of a PoseTrack18-format folder and print "
        "videos, frames, labelled frames, people, tracks and visible joints per split.\n\n"
        "Example:\n  tipsd data check data/synth-tiny\n  tipsd data check synth:quick --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("root", help="dataset folder, or synth:<preset> (the cached synthetic dataset)")
    check.add_argument("--json", action="store_true", help="print the statistics as JSON")
    check.add_argument("--cache-dir", default="", help="cache folder for synth:<preset> (default ~/.cache/tipsd)")
    check.set_defaults(handler=_check)


def _missing_subcommand(parser) -> int:
    import sys

    parser.print_help(sys.stderr)
    return 2


def _synth(args) -> int:
    import time

    from tipsd.model.data import SYNTH_PRESETS, format_stats, generate_dataset
    from tipsd.model.data.check import dataset_stats
    from tipsd.model.errors import DataError

    if args.preset not in SYNTH_PRESETS:
        raise DataError(f"--preset {args.preset!r} is unknown; valid presets: {', '.join(SYNTH_PRESETS)}")
    start = time.perf_counter()
    root = generate_dataset(args.out, args.preset, args.seed)
    seconds = time.perf_counter() - start
    print(f"wrote synthetic dataset {args.preset!r} (seed {args.seed}) to {root} in {seconds:.1f} s")
    print(format_stats(dataset_stats(root)))
    return 0


def _check(args) -> int:
    from tipsd.model.data import dataset_stats, format_stats, resolve_dataset

    root = resolve_dataset(args.root, args.cache_dir)
    stats = dataset_stats(root)
    if args.json:
        print(json.dumps(stats, indent=1))
    else:
        print(f"{root}: OK")
        print(format_stats(stats))
    return 0
