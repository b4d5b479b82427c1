"""`tipsd eval GT_DIR PRED_DIR`: score a PoseTrack18 prediction folder against its ground truth.

Both folders hold one JSON per video with the same file names (GT_DIR e.g. ``ROOT/annotations/val``).
A GT video without a prediction file is an error (one line, exit 2) unless ``--allow-missing``,
which scores it as a video with no predictions; prediction files without GT are ignored.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math

FORMATS = ("table", "json", "csv")


def register(subparsers) -> None:
    """Add ``tipsd eval`` to the `tipsd` parser."""
    p = subparsers.add_parser(
        "eval",
        help="score PoseTrack18 predictions: PoseTrack mAP (poseval's) and COCO OKS AP",
        description="Score a folder of PoseTrack18 prediction files (one JSON per video) against "
        "the ground-truth folder with the same file names: PoseTrack mAP exactly as poseval "
        "computes it (Head ... Ankle, Total, per joint) and COCO OKS AP.",
        epilog="example: tipsd eval data/posetrack18/annotations/val runs/preds --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("gt_dir", metavar="GT_DIR", help="folder of ground-truth video JSON files")
    p.add_argument("pred_dir", metavar="PRED_DIR", help="folder of prediction JSON files, same names")
    p.add_argument("--format", choices=FORMATS, default="table",
                   help="table (default), json (one object) or csv (header + one row)")
    p.add_argument("--allow-missing", action="store_true",
                   help="score a GT video without a prediction file as having no predictions "
                   "(default: error)")
    p.set_defaults(handler=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    """Handler of ``tipsd eval``: load, score, print; bad input raises DataError (exit 2)."""
    from pathlib import Path

    from tipsd.model.errors import DataError
    from tipsd.model.eval.evaluate import evaluate_parsed
    from tipsd.model.eval.posetrack_json import parse_video
    from tipsd.model.posetrack18 import read_video_file, video_files

    gt_files = video_files(args.gt_dir)
    pred_root = Path(args.pred_dir)
    if not pred_root.is_dir():
        raise DataError(f"{args.pred_dir}: no such folder")
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
    result = evaluate_parsed(gt, pred)
    print(format_result(result, args.format), end="")
    return 0


def _finite_or_none(v: float):
    return None if isinstance(v, float) and math.isnan(v) else v


def format_result(result: dict, fmt: str) -> str:
    """Render an `evaluate` result as ``table``, ``json`` or ``csv`` text (ends with a newline).

    Example:
        >>> r = {"Total": 50.0, "joints": {"nose": 50.0}, "oks_ap": 40.0}
        >>> format_result(r, "json")
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
