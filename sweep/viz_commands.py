"""The `tipsd viz interim`, `tipsd viz results` commands, and `tipsd report` with the paper's figures.

They run trained networks (`tipsd.model.figure_data`) and draw with `tipsd.analysis.paper_figures`,
so they live in `tipsd.sweep`, the layer that may import both (docs/architecture.md). `cmd_report`
is `tipsd.analysis.commands.cmd_report` given the figures of `tipsd.sweep.figures.report_figures`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tipsd.model.errors import UsageError
from tipsd.model.record import DEFAULT_STORAGE

RAW = argparse.RawDescriptionHelpFormatter


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer >= 1")
    return value


def _alphas(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(not 0 <= v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of numbers in [0, 1]")
    return values


def add_viz(subparsers, name: str) -> argparse.ArgumentParser:
    """``tipsd viz``: the group of the figure commands."""
    return subparsers.add_parser(
        name, help="draw the paper's figures (interim poses, results on hard frames) from kept weights",
        description="Draw the paper's Fig. 1 and Fig. 2 for chosen cells of a study (from the weights the "
        "study kept: [run] keep_weights) or for tipsd train checkpoints.\n\nExample:\n"
        "  tipsd viz interim table1 --cells gamma_info=1,gamma_s=0 --cells gamma_info=1,gamma_s=0.1 -o fig1.png\n"
        "  tipsd viz results table1 -o fig2.pdf", formatter_class=RAW)


def _common(p: argparse.ArgumentParser) -> None:
    from tipsd.analysis.commands import _parse_cell

    p.add_argument("study", metavar="STUDY", nargs="?", help="study name in the storage")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"Optuna storage URL (default: {DEFAULT_STORAGE})")
    p.add_argument("--cells", type=_parse_cell, action="append", metavar="NAME=VALUE,...",
                   help="a cell to draw, one column each (repeatable; default: the best cell and the "
                        "all-zero cell)")
    p.add_argument("--checkpoint", action="append", metavar="DIR",
                   help="a tipsd train --checkpoint-dir folder instead of a study (repeatable)")
    p.add_argument("--artifact-dir", default=None, help="where the study's weights are (default: next to the SQLite file)")
    p.add_argument("-o", "--output", required=True, help="output file, .png or .pdf (both are written)")


def add_viz_interim(subparsers, name: str) -> argparse.ArgumentParser:
    """``tipsd viz interim``: its options."""
    p = subparsers.add_parser(
        name, help="Fig. 1: the synthesizer's interim poses between the neighbour frames",
        description="Fig. 1 per cell, the same clips in every column: the key frame's crop, the neighbours' "
        "joint locations (green, cyan), the trajectory (blue arrow), the synthesized interim locations at "
        "each alpha (blue stars), the ground-truth interim target (white x), and a zoomed row of the joints "
        "that move most.\n\nExample:\n  tipsd viz interim table1 --cells gamma_info=1,gamma_s=0 "
        "--cells gamma_info=1,gamma_s=5 --clips 4 -o fig1.png\n"
        "  tipsd viz interim --checkpoint runs/q0 -o q0-interim.pdf", formatter_class=RAW)
    _common(p)
    p.add_argument("--clips", type=_positive, default=3, help="clips (rows) to draw (default 3)")
    p.add_argument("--alphas", type=_alphas, default=None, help="interim factors (default 0.25,0.5,0.75)")
    return p


def add_viz_results(subparsers, name: str) -> argparse.ArgumentParser:
    """``tipsd viz results``: its options."""
    p = subparsers.add_parser(
        name, help="Fig. 2: predicted poses on the hardest validation frames, beside the ground truth",
        description="Fig. 2: the ground truth and each cell's predicted skeletons on the validation frames "
        "with the lowest PCKh@0.5 (mean over the cells drawn), the same frames in every column, each "
        "frame's PCKh in the corner.\n\nExample:\n  tipsd viz results table1 --frames 4 -o fig2.png",
        formatter_class=RAW)
    _common(p)
    p.add_argument("--frames", type=_positive, default=3, help="frames (rows) to draw (default 3)")
    return p


def _settings(args):
    from tipsd.sweep.figures import cell_settings, checkpoint_settings

    if Path(args.output).suffix.lower() not in (".png", ".pdf"):
        raise UsageError(f"tipsd viz: error: -o {args.output!r}: name a .png or .pdf file (both are written)")
    if args.checkpoint and (args.study or args.cells):
        raise UsageError("tipsd viz: error: --checkpoint draws tipsd train runs: give it without STUDY and --cells")
    if args.checkpoint:
        return checkpoint_settings(args.checkpoint)
    if not args.study:
        raise UsageError("tipsd viz: error: give a STUDY (with --cells, or its best and all-zero cells) "
                         "or --checkpoint DIR")
    return cell_settings(args.storage, args.study, args.cells, args.artifact_dir)


def _save(fig, args) -> int:
    from tipsd.analysis.paper_figures import save_figure

    paths = save_figure(fig, args.output)
    print(f"wrote {' and '.join(str(p) for p in paths)}", file=sys.stderr)
    return 0


def cmd_viz_interim(args) -> int:
    from tipsd.analysis.paper_figures import draw_interim
    from tipsd.sweep.figures import interim_panels

    return _save(draw_interim(panels=interim_panels(_settings(args), args.clips, args.alphas)), args)


def cmd_viz_results(args) -> int:
    from tipsd.analysis.paper_figures import draw_results
    from tipsd.sweep.figures import results_panels

    return _save(draw_results(panels=results_panels(_settings(args), args.frames)), args)


def add_report(subparsers, name: str) -> argparse.ArgumentParser:
    """``tipsd report``: the analysis's options, and --no-figures."""
    from tipsd.analysis.commands import add_report as add_analysis_report

    p = add_analysis_report(subparsers, name)
    p.add_argument("--no-figures", action="store_true",
                   help="leave out the paper's Fig. 1 and Fig. 2 (they need the study's kept weights)")
    return p


def cmd_report(args) -> int:
    """`tipsd.analysis.commands.cmd_report` with Fig. 1 and Fig. 2 of the best and all-zero cells."""
    from tipsd.analysis.commands import cmd_report as analysis_report
    from tipsd.sweep.figures import report_figures

    if not args.no_figures:
        args.paper_figures = lambda out: report_figures(args.storage, args.study, out, args.artifact_dir)
    return analysis_report(args)
