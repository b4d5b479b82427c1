"""The `tipsd` commands of the sweep: ``run``, ``status``, ``dashboard``, ``viz interim``, ``viz results``
(they run networks and draw: `tipsd.sweep.figures`), and the parser of ``report`` (the analysis's
report with the paper's figures). `tipsd.sweep.cli.COMMANDS`
lists every command with its ``add_*`` (adds the command's parser under the given name) and
``cmd_*`` (the handler: ``args -> exit code``); heavy imports happen inside the handlers.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tipsd.model.commands import preset_option
from tipsd.model.errors import TipsdError, UsageError
from tipsd.model.record import DEFAULT_STORAGE
from tipsd.sweep import version

RAW = argparse.RawDescriptionHelpFormatter  # descriptions keep their line breaks (examples)


class RunError(TipsdError):
    """Some jobs of a study could not be completed (exit code 1: the run, not the input, failed)."""

    exit_code = 1


class Interrupted(TipsdError):
    """The run was stopped by Ctrl-C or SIGTERM (exit code 130, as a shell reports SIGINT)."""

    exit_code = 130


def _port(text: str) -> int:
    """``--port``: an integer from 1 to 65535."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"'{text}' is not a TCP port (an integer from 1 to 65535)")
    return value


def _batch_trials(text: str) -> int | str:
    """``--batch-trials``: an integer >= 1 or "auto"."""
    if text == "auto":
        return text
    try:
        return _positive(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer >= 1 or auto") from None


def add_run(subparsers, name: str) -> argparse.ArgumentParser:
    """``tipsd run``: its options."""
    p = subparsers.add_parser(
        name, help="create or resume a study and run its missing trials", formatter_class=RAW,
        description="Create the study described by STUDY.toml in the storage, or resume it, and train "
                    "every (weights, seed) run it still needs.\n\nexample:\n"
                    "  tipsd run studies/table1.toml --workers 2\n"
                    "  tipsd run studies/table2.toml --device cuda --batch-trials auto\n"
                    "  tipsd run studies/bayes.toml --storage postgresql+psycopg://user@host/db")
    p.add_argument("study", metavar="STUDY.toml", help="study file (see docs/sweep.md)")
    p.add_argument("--storage", default=None,
                   help=f"Optuna storage URL (default: the file's storage, else {DEFAULT_STORAGE})")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    p.add_argument("--preset", type=preset_option, default=None, help="training preset replacing the file's (tiny, quick, paper)")
    p.add_argument("--device", default=None, help="training device: cpu, cuda, cuda:N (default: the preset's)")
    p.add_argument("--batch-trials", type=_batch_trials, default=1, metavar="K|auto",
                   help="train K weight settings of one seed together on one batch stream, each its own "
                        "trial (a GPU speed-up; auto: from the free GPU memory, 1 on the CPU; default 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (summary lines only)")
    p.add_argument("--retry-failed", action="store_true",
                   help="give runs that were given up a fresh max_retries budget (after fixing the cause)")
    return p


def add_status(subparsers, name: str) -> argparse.ArgumentParser:
    """``tipsd status``: its options."""
    p = subparsers.add_parser(
        name, help="trial counts, grid completion and best value of every study", formatter_class=RAW,
        description="Show every study in the storage: trials per state, grid completion, best so far."
                    f"\n\nexample:\n  tipsd status --storage {DEFAULT_STORAGE}")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"Optuna storage URL (default {DEFAULT_STORAGE})")
    return p


def add_dashboard(subparsers, name: str) -> argparse.ArgumentParser:
    """``tipsd dashboard``: its options."""
    p = subparsers.add_parser(
        name, help="serve optuna-dashboard on the storage", formatter_class=RAW,
        description="Start optuna-dashboard on the storage, with each tipsd study's description and "
                    "spec as its note and the report figures as artifacts."
                    f"\n\nexample:\n  tipsd dashboard --storage {DEFAULT_STORAGE} --port 8080")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"Optuna storage URL (default {DEFAULT_STORAGE})")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=_port, default=8080, help="port (default 8080)")
    p.add_argument("--artifact-dir", default=None,
                   help="artifact folder (default: next to the SQLite file, see tipsd report)")
    return p


def cmd_run(args) -> int:
    """Handler of ``tipsd run``: validate everything, then run the study; 1 if jobs were given up."""
    from tipsd.sweep.progress import failures_text
    from tipsd.sweep.runner import run_study
    from tipsd.sweep.spec import load_spec
    from tipsd.sweep.storage import StorageError, resolve_url, shown

    if args.workers < 1:
        raise UsageError(f"tipsd run: error: --workers {args.workers}: expected an integer >= 1")
    spec = load_spec(args.study, preset=args.preset)
    check_device(spec, args.device)
    url = resolve_url(args.storage, spec)
    try:
        report = run_study(spec, url, workers=args.workers, device=args.device, version=version(),
                           progress=not args.no_progress, retry_failed=args.retry_failed,
                           batch_trials=args.batch_trials)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted; every run in progress was marked interrupted and is redone by the "
                          f"next `tipsd run {args.study}`") from None
    except StorageError as err:
        if args.storage or not spec.storage:
            raise
        raise type(err)(f"{spec.path}: storage = {shown(url)!r}: {err}") from None
    led = report.ledger
    trained = [o for o in report.outcomes if o.state != "DUPLICATE"]  # lost claim races trained nothing
    failed = [o for o in trained if o.state == "FAIL"]
    every = f"; {failures_text(len(failed), failed[0].reason)}" if failed and len(failed) == len(trained) else ""
    print(f"{spec.name}: {len(led.done)}/{led.total} runs done, {len(led.exhausted)} given up, "
          f"{len(report.outcomes)} trials this session in {report.wall_s:.0f} s ({shown(url)}){every}")
    if led.exhausted:
        first = led.exhausted[0]
        reason = next((f": {o.reason}" for o in failed if o.job.key == first), "")
        runs = f"all {led.total}" if len(led.exhausted) == led.total else str(len(led.exhausted))
        raise RunError(f"{runs} runs failed {spec.run['max_retries'] + 1} times and were given up (first: "
                       f"{first.replace('|', ' ')}{reason}); see `tipsd status` and each trial's fail_reason, "
                       f"fix the cause, then `tipsd run {args.study} --retry-failed`")
    return 0


def check_device(spec, device: str | None) -> None:
    """Refuse a training device this machine does not have (``--device`` or the study's ``device``
    override) before anything is stored: otherwise every trial would fail on it."""
    from tipsd.model.config import make_config

    cfg = make_config(spec.preset, {**spec.overrides, **({"device": device} if device else {})})
    if cfg.device.startswith("cuda"):
        from tipsd.model.train import select_device

        select_device(cfg.device)  # ConfigError (exit 2) when CUDA or that GPU is missing


def cmd_status(args) -> int:
    """Handler of ``tipsd status``: print one block per study."""
    from tipsd.sweep.status import format_status, study_status
    from tipsd.sweep.storage import open_storage, shown

    storage = open_storage(args.storage, readonly=True)
    rows = study_status(storage)
    print(format_status(rows, shown(args.storage)))
    return 0


def cmd_dashboard(args) -> int:
    """Handler of ``tipsd dashboard``: annotate the studies, then serve until interrupted."""
    from tipsd.sweep.dashboard import serve

    serve(args.storage, host=args.host, port=args.port, artifact_dir=args.artifact_dir)
    return 0


# ---- the paper's figures (issue 12) ----------------------------------------------------------------

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
    """``tipsd report``: the analysis's options, --no-figures, and the paper's figures as a default of
    the parsed arguments (`tipsd.analysis.commands.cmd_report` calls ``args.paper_figures``: drawing them
    runs networks, which the analysis layer never does itself)."""
    from tipsd.analysis.commands import add_report as add_analysis_report

    p = add_analysis_report(subparsers, name)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--figures", action="store_true",
                       help="require the paper's Fig. 1 and Fig. 2: exit code 1 (after writing the report) when "
                            "they cannot be drawn; by default the report says why and the exit code is 0")
    which.add_argument("--no-figures", action="store_true",
                       help="leave out the paper's Fig. 1 and Fig. 2 (they need the study's kept weights)")
    p.set_defaults(paper_figures=_report_figures)
    return p


def _report_figures(storage: str, study: str, out, artifact_dir):
    from tipsd.sweep.figures import report_figures

    return report_figures(storage, study, out, artifact_dir)
