"""The `tipsd` commands that serve the training core: ``data synth``, ``data check``, ``eval``,
``train``. `tipsd.sweep.cli.COMMANDS` lists every command with its ``add_*`` (adds the command's
parser under the given name) and ``cmd_*`` (the handler: ``args -> exit code``).

Heavy libraries (torch, pycocotools) are imported inside the handlers, so that ``tipsd --help``
stays fast. A bad input raises a `TipsdError` (one line, exit code 2).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys

from tipsd.model.record import MAP_COLUMNS

RAW = argparse.RawDescriptionHelpFormatter  # descriptions keep their line breaks (examples)
EVAL_FORMATS = ("table", "json", "csv")
TRAIN_EXAMPLE = """example:
  tipsd train --preset tiny --set gamma_s=0.5 --set epochs=3
  tipsd train --preset quick --checkpoint-dir runs/q0 --resume --format json"""


def preset_option(text: str) -> str:
    """``--preset`` (`tipsd train`, `tipsd run`, `tipsd data synth`): a name of `tipsd.model.config.PRESETS`.

    Raises:
        argparse.ArgumentTypeError: shown as one line naming the option, the value and the known presets,
            e.g. ``tipsd run: error: argument --preset: 'huge' is not a preset; known presets: tiny, quick, paper``.
    """
    from tipsd.model.config import PRESETS

    if text not in PRESETS:
        raise argparse.ArgumentTypeError(f"'{text}' is not a preset; known presets: {', '.join(PRESETS)}")
    return text


# ---- tipsd data synth / data check

def add_data(subparsers, name: str) -> argparse.ArgumentParser:
    """``tipsd data``: the group of the dataset subcommands."""
    return subparsers.add_parser(
        name, help="generate the synthetic dataset or check a PoseTrack18 folder",
        description="Datasets in the PoseTrack18 layout.\n\nExample:\n  tipsd data synth --out data/synth-quick"
        "\n  tipsd data check data/synth-quick", formatter_class=RAW)


def add_synth(subparsers, name: str) -> argparse.ArgumentParser:
    """``tipsd data synth``: its options."""
    p = subparsers.add_parser(
        name, help="write a synthetic PoseTrack18-format video dataset",
        description="Render synthetic videos (articulated people, camera motion, motion blur, occluders, "
        "defocus) and write frames + per-video JSON with train/val splits.\n\n"
        "Example:\n  tipsd data synth --out data/synth-tiny --preset tiny --seed 0", formatter_class=RAW)
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--preset", type=preset_option, default="quick", help="tiny, quick (default) or paper")
    p.add_argument("--seed", type=int, default=0, help="generator seed (same seed, same bytes)")
    return p


def output_folder(path: str, what: str) -> None:
    """Refuse an output folder argument that names an existing file (one line naming it and `what`),
    before anything is written; a missing folder is fine (it is created)."""
    from pathlib import Path

    from tipsd.model.errors import DataError

    if Path(path).expanduser().exists() and not Path(path).expanduser().is_dir():
        raise DataError(f"{what} {path} is a file; give a folder (created if missing)")


def cmd_synth(args) -> int:
    """Handler of ``tipsd data synth``: generate, then print the dataset's statistics."""
    import time

    from tipsd.model.data import dataset_stats, format_stats, generate_dataset

    output_folder(args.out, "--out")
    start = time.perf_counter()
    root = generate_dataset(args.out, args.preset, args.seed)
    seconds = time.perf_counter() - start
    print(f"wrote synthetic dataset {args.preset!r} (seed {args.seed}) to {root} in {seconds:.1f} s")
    print(format_stats(dataset_stats(root)))
    return 0


def add_check(subparsers, name: str) -> argparse.ArgumentParser:
    """``tipsd data check``: its options."""
    p = subparsers.add_parser(
        name, help="validate a PoseTrack folder (2017 or 2018 layout) and print its statistics",
        description="Read every annotation file (PoseTrack18 or PoseTrack 2017 layout) and look at every image "
        "of a PoseTrack folder; print per split the layout detected, whether it is labelled, videos, frames, "
        "labelled frames, people, tracks (and per video), visible joints, and the files that could not be "
        "used and why (exit code 2 if any). A split without annotations (the release's test split) is "
        "reported as unlabelled.\n\n"
        "Example:\n  tipsd data check data/synth-tiny\n  tipsd data check /data/posetrack18 --videos"
        "\n  tipsd data check synth:quick --json",
        formatter_class=RAW)
    p.add_argument("root", help="dataset folder, or synth:<preset> (the cached synthetic dataset)")
    p.add_argument("--json", action="store_true", help="print the statistics as JSON (per video included)")
    p.add_argument("--videos", action="store_true", help="also print one line per video")
    p.add_argument("--cache-dir", default="", help="cache folder for synth:<preset> (default ~/.cache/tipsd)")
    return p


def cmd_check(args) -> int:
    """Handler of ``tipsd data check``: validate, print the statistics and the files not used; a
    dataset with unusable files (or no labelled person) ends with a one-line error, exit code 2."""
    from tipsd.model.data import dataset_problem, dataset_stats, format_stats, resolve_dataset
    from tipsd.model.errors import DataError

    root = resolve_dataset(args.root, args.cache_dir)
    stats = dataset_stats(root)
    problem = dataset_problem(root, stats)
    if args.json:
        print(json.dumps(stats, indent=1))
    else:
        print(f"{root}: {'OK' if problem is None else 'NOT OK (see the end)'}")
        print(format_stats(stats, per_video=args.videos))
    if problem is not None:
        raise DataError(problem)
    return 0


def add_convert(subparsers, name: str) -> argparse.ArgumentParser:
    """``tipsd data convert``: its options."""
    p = subparsers.add_parser(
        name, help="write a folder of PoseTrack video files in the 2017 or 2018 layout",
        description="Read every video file of a folder (PoseTrack18 or PoseTrack 2017 layout, joints in any "
        "declared order), check it, and write it in the layout asked for, joints in the standard order: "
        "ground truth, or predictions (--predictions) for poseval or another tool.\n\n"
        "Example:\n  tipsd data convert runs/preds runs/preds17 --layout 2017 --predictions"
        "\n  tipsd data convert posetrack_data/annotations/val val18 --layout 2018",
        formatter_class=RAW)
    p.add_argument("src_dir", metavar="SRC_DIR", help="folder of video JSON files (either layout)")
    p.add_argument("out_dir", metavar="OUT_DIR", help="output folder (created; same file names)")
    p.add_argument("--layout", choices=("2017", "2018"), required=True, help="layout to write")
    p.add_argument("--predictions", action="store_true",
                   help="the files are predictions (per-joint scores kept; no head boxes needed)")
    return p


def cmd_convert(args) -> int:
    """Handler of ``tipsd data convert``."""
    from tipsd.model.eval.export import convert_folder

    output_folder(args.out_dir, "OUT_DIR")
    paths = convert_folder(args.src_dir, args.out_dir, layout=args.layout, predictions=args.predictions)
    print(f"wrote {len(paths)} video files in the PoseTrack{'18' if args.layout == '2018' else ' 2017'} "
          f"layout to {args.out_dir}")
    return 0


# ---- tipsd eval GT_DIR PRED_DIR

def add_eval(subparsers, name: str) -> argparse.ArgumentParser:
    """``tipsd eval``: score a prediction folder against the ground-truth folder with the same file
    names. A GT video without a prediction file is an error unless ``--allow-missing`` (then it is
    scored as a video with no predictions); prediction files without GT are ignored."""
    p = subparsers.add_parser(
        name,
        help="score PoseTrack predictions: PoseTrack mAP (poseval's) and COCO OKS AP",
        description="Score a folder of prediction files (one JSON per video, PoseTrack18 or PoseTrack 2017 "
        "layout) against the ground-truth folder with the same file names: PoseTrack mAP exactly as poseval "
        "computes it (Head ... Ankle, Total, per joint) and COCO OKS AP. Joints are mapped by the names in "
        "categories[0].keypoints. Frames are paired by image_id when every predicted image id is a GT "
        "frame, else by position in the file (as poseval) when both list as many frames, else refused; "
        "notes (frames paired by position, prediction files without GT) go to stderr.",
        epilog="example: tipsd eval data/posetrack18/annotations/val runs/preds --format json",
        formatter_class=RAW,
    )
    p.add_argument("gt_dir", metavar="GT_DIR", help="folder of ground-truth video JSON files")
    p.add_argument("pred_dir", metavar="PRED_DIR", help="folder of prediction JSON files, same names")
    p.add_argument("--format", choices=EVAL_FORMATS, default="table",
                   help="table (default), json (one object) or csv (header + one row)")
    p.add_argument("--allow-missing", action="store_true",
                   help="score a GT video without a prediction file as having no predictions "
                   "(default: error)")
    return p


def cmd_eval(args: argparse.Namespace) -> int:
    """Handler of ``tipsd eval``: load, score, print; bad input raises DataError (exit 2)."""
    from tipsd.model.errors import DataError
    from tipsd.model.eval.evaluate import evaluate_parsed
    from tipsd.model.eval.posetrack_json import parse_video
    from tipsd.model.posetrack18 import read_video_file, require_folder, video_files

    gt_files = video_files(args.gt_dir)
    pred_root = require_folder(args.pred_dir, "videos")
    gt, pred = {}, {}
    for name, path in gt_files.items():
        gt[name] = parse_video(read_video_file(path), str(path), is_gt=True)
        pred_path = pred_root / path.name
        if not pred_path.is_file():
            if args.allow_missing:
                continue
            raise DataError(
                f"{pred_path}: file not found (no predictions for GT video {name!r}; "
                "--allow-missing scores it as empty)"
            )
        pred[name] = parse_video(read_video_file(pred_path), str(pred_path), is_gt=False)
    notes: list[str] = []
    unread = sorted(p.name for p in pred_root.glob("*.json") if p.stem not in gt_files)
    if unread:
        shown = ", ".join(unread[:3]) + (f", ... ({len(unread)} in all)" if len(unread) > 3 else "")
        notes.append(f"{pred_root}: {shown}: no ground-truth file of the same name in {args.gt_dir}; not read")
    result = evaluate_parsed(gt, pred, notes)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(format_scores(result, args.format), end="")
    return 0


def _finite_or_none(v: float):
    return None if isinstance(v, float) and math.isnan(v) else v


def format_scores(result: dict, fmt: str) -> str:
    """Render an `evaluate` result as ``table``, ``json`` or ``csv`` text (ends with a newline).

    Example:
        >>> r = {"Total": 50.0, "joints": {"nose": 50.0}, "oks_ap": 40.0}
        >>> format_scores(r, "json")
        '{"Total": 50.0, "joints": {"nose": 50.0}, "oks_ap": 40.0}\\n'
    """
    columns = [k for k in result if k not in ("joints", "oks_ap")]
    joints = result["joints"]
    if fmt == "json":
        out = {k: _finite_or_none(result[k]) for k in columns}
        out["joints"] = {k: _finite_or_none(v) for k, v in joints.items()}
        out["oks_ap"] = _finite_or_none(result["oks_ap"])
        return json.dumps(out) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([*columns, "oks_ap", *joints])
        writer.writerow([repr(float(result[k])) for k in (*columns, "oks_ap")]
                        + [repr(float(v)) for v in joints.values()])
        return buf.getvalue()
    names = [*columns, "OKS AP"]
    values = [result[k] for k in columns] + [result["oks_ap"]]
    widths = [max(len(n), 6) for n in names]
    lines = [
        "PoseTrack mAP (poseval, PCKh@0.5) and COCO OKS AP, percent",
        " ".join(n.rjust(w) for n, w in zip(names, widths)),
        " ".join(f"{v:.1f}".rjust(w) for v, w in zip(values, widths)),
        "",
        "per joint AP:",
    ]
    width = max(len(n) for n in joints)
    lines += [f"  {n.ljust(width)} {v:6.1f}" for n, v in joints.items()]
    return "\n".join(lines) + "\n"


# ---- tipsd train

def add_train(subparsers, name: str) -> argparse.ArgumentParser:
    """``tipsd train``: its options."""
    p = subparsers.add_parser(
        name, help="train one model and print its validation metrics",
        description="Train one TIPSD model with the given preset and overrides, evaluate it on the "
        "val split, print the PoseTrack mAP table, OKS AP and the unweighted loss terms.",
        epilog=TRAIN_EXAMPLE, formatter_class=RAW,
    )
    p.add_argument("--preset", type=preset_option, default="quick", help="tiny, quick (default) or paper")
    p.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE", default=[],
                   help="override a config key (repeatable), e.g. --set gamma_info=0.1")
    p.add_argument("--checkpoint-dir", default=None, help="write checkpoint.pt and config.json here each epoch")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --checkpoint-dir")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    return p


def format_train_result(result: dict) -> str:
    """The PoseTrack table, OKS AP, loss terms and timings of a `TrainResult.to_dict()` as text."""
    m = result["metrics"]
    lines = [
        " | ".join(f"{c:>8}" for c in MAP_COLUMNS),
        " | ".join(f"{m[c]:8.1f}" for c in MAP_COLUMNS),
        f"OKS AP: {m['oks_ap']:.1f}",
        "losses (unweighted, last epoch): " + ", ".join(f"{k}={v:.4g}" for k, v in result["losses"].items()),
        f"device {result['device']}, {result['duration_s']:.1f} s, {result['frames_per_s']:.1f} clips/s, "
        f"peak memory {result['peak_mem_mb']:.0f} MB",
    ]
    return "\n".join(lines)


def cmd_train(args: argparse.Namespace) -> int:
    """Handler of ``tipsd train``."""
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
        print(format_train_result(result))
    return 0
