"""The `tipsd` commands of the analysis: ``table``, ``paper``, ``compare``, ``heatmap``, ``report``,
``export``, ``importance``. `tipsd.sweep.cli.COMMANDS` lists every command with its ``add_*`` (adds
the command's parser under the given name) and ``cmd_*`` (the handler: ``args -> exit code``).

Each handler reads stored studies through `tipsd.analysis` and never trains. Heavy imports (pandas,
optuna, matplotlib) happen inside the handlers so that `tipsd --help` stays fast.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tipsd.model.errors import TipsdError
from tipsd.model.record import DEFAULT_STORAGE, GAMMA_NAMES, masked_url


class OutputError(TipsdError):
    """An output file or folder cannot be written."""


def _parse_cell(text: str) -> dict[str, float]:
    """``"gamma_info=1,gamma_s=0.1"`` → ``{"gamma_info": 1.0, "gamma_s": 0.1}`` (--where, --joints,
    --cells); a name that is not a weight is refused here, with the closest one."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise argparse.ArgumentTypeError(f"'{part}' is not NAME=VALUE (e.g. gamma_s=0.1)")
        _weight_name(name.strip())
    return out


def _weight_name(text: str) -> str:
    """A loss weight's name (--rows, --cols, --blocks, and the names of a cell), or the closest one."""
    from tipsd.analysis.names import did_you_mean

    if text not in GAMMA_NAMES:
        raise argparse.ArgumentTypeError(f"'{text}' is not a loss weight{did_you_mean(text, GAMMA_NAMES)}")
    return text


def _decimals(text: str) -> int:
    """``--decimals``: an integer >= 0 (a negative one is not a format precision)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer >= 0")
    return value


def _emit(text: str, path: str | None) -> None:
    if not path or path == "-":
        sys.stdout.write(text)
        return
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as err:
        raise OutputError(f"cannot write '{path}': {err.strerror or err}") from None
    print(f"wrote {path}", file=sys.stderr)


def _load(args, *, all_states: bool = False):
    """(study, info, finished runs, all runs, metric column, higher_is_better) for a handler."""
    from tipsd.analysis.runs import higher_is_better, load_runs, load_study, metric_column, require_finished, study_info

    study = load_study(args.storage, args.study)
    all_runs = load_runs(args.storage, args.study, all_states=True)
    info = study_info(study, all_runs)
    runs = all_runs[all_runs["state"] == "COMPLETE"].reset_index(drop=True)
    require_finished(runs, args.study, info.counts)
    col = metric_column(runs, getattr(args, "metric", None))
    return study, info, runs, all_runs, col, higher_is_better(col, info.direction)


def _where(args) -> dict[str, float]:
    out: dict[str, float] = {}
    for cell in args.where or []:
        out.update(cell)
    return out


def _check_axes(args, all_runs) -> None:
    """An axis asked for (--rows/--cols/--blocks) must be a weight the study varies: a constant one
    gives a table of one row or column that looks complete and says nothing."""
    from tipsd.analysis.runs import AnalysisError
    from tipsd.analysis.tables import fmt_value, varying_weights

    counted = all_runs[all_runs["state"] != "RUNNING"]
    varies = varying_weights(counted)
    for flag in ("rows", "cols", "blocks"):
        name = getattr(args, flag, None)
        if name and name not in varies:
            values = sorted({float(v) for v in counted[name].dropna()}) if name in counted else []
            held = f"{fmt_value(values[0])} in every run" if len(values) == 1 else "not recorded"
            raise AnalysisError(f"--{flag} {name}: study '{args.study}' does not vary {name} ({held}); "
                                f"it varies {', '.join(varies) or 'no weight'}")


def _note_missing_cells(runs, all_runs, grid=None) -> None:
    """One line on stderr per cell of the study that has no finished run, saying what its runs did
    (a diverged cell is a result: the table shows '–' there). A cell is named by every weight the
    study's plan `grid` varies (``footers.study_plan``), not only those its stored runs happen to vary."""
    from tipsd.analysis.tables import fmt_value, varying_weights
    from tipsd.model.record import GAMMA_NAMES

    stored = varying_weights(all_runs)
    planned = [g for g in GAMMA_NAMES if len((grid or {}).get(g, ())) > 1 and g in all_runs]
    varies = [g for g in GAMMA_NAMES if g in stored or g in planned]
    if not varies or "cell" not in all_runs:
        return
    finished = set(runs["cell"]) if "cell" in runs else set()
    for cell, group in all_runs[all_runs["state"] != "COMPLETE"].groupby("cell", sort=True):
        if cell in finished:
            continue
        first = group.iloc[0]
        where = " ".join(f"{g}={fmt_value(first[g])}" for g in varies)
        diverged = int(group["diverged"].fillna(False).astype(bool).sum()) if "diverged" in group else 0
        states = group["state"].value_counts().to_dict()
        what = (f"{diverged} run{'s' if diverged != 1 else ''} diverged (NaN/Inf)" if diverged
                else ", ".join(f"{n} {s}" for s, n in sorted(states.items())))
        print(f"note: cell {where} has no finished run: {what}", file=sys.stderr)


def _footer(text: str, lines: list[str], fmt: str) -> tuple[str, list[str]]:
    """`lines` under a Markdown table, as LaTeX comments under a LaTeX one; CSV stays pure data, so
    its lines are returned to go to stderr."""
    lines = [line for line in lines if line]
    if fmt == "csv":
        return text, lines
    return text + "".join(f"% {line}\n" if fmt == "latex" else f"\n{line}\n" for line in lines), []


def cmd_table(args) -> int:
    from tipsd.analysis.footers import progress_line, signal_text, study_plan
    from tipsd.analysis.tables import apply_where, build_table, joint_table, render_frame, render_table

    from tipsd.analysis.settings import is_sampled, ranked_settings, render_settings

    _, info, runs, all_runs, col, higher = _load(args)
    _check_axes(args, all_runs)
    plan = study_plan(info.user_attrs)
    aside: list[str] = []
    sampler = is_sampled(info.user_attrs)
    # a sampled study's settings are no grid: ranked, unless the user lays them out on axes
    ranked = sampler and not (args.rows or args.cols or args.blocks)
    if args.joints:
        text = render_frame(joint_table(runs, args.joints), args.format, decimals=args.decimals)
    elif ranked:
        kept = apply_where(runs, _where(args))
        signal = signal_text(kept, col, higher_is_better=higher)
        text, aside = _footer(render_settings(ranked_settings(kept, col, higher=higher), args.format,
                                              decimals=args.decimals, sampler=sampler),
                              [progress_line(plan, runs), signal.footer], args.format)
    else:
        from tipsd.analysis.racing import study_race

        race = study_race(info, all_runs)
        table = build_table(runs, metric=col, rows=args.rows, cols=args.cols, blocks=args.blocks,
                            where=_where(args), higher_is_better=higher, race=race, grid=plan.grid)
        axes = [a for a in (table.blocks, table.rows, table.cols) if a]
        signal = signal_text(apply_where(runs, _where(args)), col, higher_is_better=higher, by=axes)
        text, aside = _footer(render_table(table, args.format, decimals=args.decimals),
                              [progress_line(plan, runs, race=race), signal.footer], args.format)
    _emit(text, args.output)
    for line in aside:
        print(line, file=sys.stderr)
    if not args.joints and not sampler:  # a sampler's study has no cells planned to miss
        _note_missing_cells(runs, all_runs, plan.grid)
    return 0


def cmd_paper(args) -> int:
    from tipsd.analysis.paper import paper_table
    from tipsd.analysis.tables import render_table

    _emit(render_table(paper_table(args.table), args.format, decimals=1), args.output)
    return 0


def cmd_compare(args) -> int:
    from tipsd.analysis.footers import progress_line, signal_text, study_plan
    from tipsd.analysis.paper import PAPER_FIXED, compare_with_paper, render_comparison
    from tipsd.analysis.runs import AnalysisError
    from tipsd.analysis.tables import fmt_value, greek

    from tipsd.analysis.racing import study_race

    _, info, runs, all_runs, col, higher = _load(args)
    comp = compare_with_paper(runs, args.paper, metric=col, baseline=args.baseline)
    if comp.shared.empty:  # e.g. a Bayesian study's continuous settings: no claim can be checked
        fixed = ", ".join(f"{greek(k)}={fmt_value(v)}" for k, v in PAPER_FIXED[args.paper].items())
        raise AnalysisError(f"study '{args.study}' has none of the {comp.n_paper} cells of the paper's {args.paper} "
                            f"({' × '.join(greek(a) for a in comp.axes)} over 0, 0.1, 1, 5 with {fixed}); "
                            f"nothing to compare: run those cells (studies/{args.paper}.toml)")
    partial = progress_line(study_plan(info.user_attrs), runs, race=study_race(info, all_runs))
    text = render_comparison(comp, decimals=args.decimals) + (f"\n{partial}\n" if partial else "")
    _emit(text + "\n" + signal_text(runs, col, higher_is_better=higher).markdown, args.output)
    return 0


def cmd_heatmap(args) -> int:
    from tipsd.analysis.heatmap import save_heatmap
    from tipsd.analysis.racing import study_race
    from tipsd.analysis.tables import build_table

    from tipsd.analysis.footers import progress_line, study_plan

    from tipsd.analysis.runs import AnalysisError
    from tipsd.analysis.settings import is_sampled

    _, info, runs, all_runs, col, higher = _load(args)
    _check_axes(args, all_runs)
    plan = study_plan(info.user_attrs)
    race = study_race(info, all_runs)
    sampler = is_sampled(info.user_attrs)
    if sampler and not (args.rows or args.cols or args.blocks):
        n = runs.drop_duplicates(subset=list(GAMMA_NAMES)).shape[0]
        raise AnalysisError(f"study '{args.study}' samples its weights (sampler {sampler}): its {n} settings are "
                            "not a grid, and a heatmap needs one; tipsd table "
                            f"{args.study} ranks them (or name the axes with --rows/--cols to draw them anyway)")
    table = build_table(runs, metric=col, rows=args.rows, cols=args.cols, blocks=args.blocks,
                        where=_where(args), higher_is_better=higher, race=race, grid=plan.grid)
    title = info.metric if col == "value" else col
    path = save_heatmap(table, args.output, decimals=args.decimals, title=title,
                        caption=progress_line(plan, runs, race=race))
    print(f"wrote {path}", file=sys.stderr)
    return 0


def cmd_report(args) -> int:
    from tipsd.analysis.readonly import is_writable
    from tipsd.analysis.report import write_report

    from tipsd.analysis.runs import load_study

    load_study(args.storage, args.study)  # a missing storage or study is the one line, before any other
    upload = not args.no_upload
    if upload and not is_writable(args.storage):
        print(f"artifact upload skipped: storage {masked_url(args.storage)} is read-only "
              "(the report files are written; --no-upload silences this)", file=sys.stderr)
        upload = False
    rep = write_report(args.storage, args.study, args.output, metric=args.metric, artifact_dir=args.artifact_dir,
                       upload=upload, baseline=args.baseline,
                       paper_figures=_paper_figures(args))
    print(f"wrote {rep.markdown} and {rep.html} ({len(rep.figures)} figures, "
          f"{len(rep.artifact_ids)} uploaded as artifacts)", file=sys.stderr)
    if rep.removed:
        print(f"removed {', '.join(p.name for p in rep.removed)} of an earlier report from {args.output} "
              "(this report did not draw them)", file=sys.stderr)
    if rep.figures_missing:
        # asked for by name (--figures): the report is written, but what was asked is missing
        asked = getattr(args, "figures", False)
        print(f"tipsd report: {'error' if asked else 'note'}: {rep.figures_missing.rstrip('.')}"
              + ("" if asked else " (the report says so; --no-figures silences this)"), file=sys.stderr)
        return 1 if asked else 0
    return 0


def _paper_figures(args):
    """The report's figure maker: ``args.paper_figures(storage, study, out_dir, artifact_dir)`` is put
    there by the parser (`tipsd.sweep.commands.add_report`), unless --no-figures; None without one."""
    maker = getattr(args, "paper_figures", None)
    if maker is None or getattr(args, "no_figures", False):
        return None
    return lambda out: maker(args.storage, args.study, out, args.artifact_dir)


def cmd_export(args) -> int:
    from tipsd.analysis.runs import load_runs, load_study

    load_study(args.storage, args.study)
    runs = load_runs(args.storage, args.study, all_states=args.all_states)
    if args.format == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise OutputError("writing parquet needs pyarrow: pip install pyarrow") from None
        if not args.output:
            raise OutputError("parquet is binary: give an output file with -o FILE.parquet")
        try:
            runs.to_parquet(args.output, index=False)
        except OSError as err:
            raise OutputError(f"cannot write '{args.output}': {err.strerror or err}") from None
        print(f"wrote {args.output} ({len(runs)} runs)", file=sys.stderr)
        return 0
    _emit(runs.to_csv(index=False), args.output)
    return 0


def cmd_importance(args) -> int:
    from tipsd.analysis.footers import study_plan
    from tipsd.analysis.importance import importance_design, interactions, main_effects, weight_importances
    from tipsd.analysis.report import importance_tables
    from tipsd.analysis.runs import AnalysisError
    from tipsd.analysis.settings import is_sampled

    _, info, runs, _, col, higher = _load(args)
    design = importance_design(runs, col, grid=study_plan(info.user_attrs).grid, sampler=is_sampled(info.user_attrs))
    if design.missing and not args.partial:
        raise AnalysisError(f"study '{args.study}' lacks {design.missing_text()}: importances and main effects "
                            "over a partial grid mix the weights' effects; finish it with tipsd run, or pass "
                            "--partial to compute them over the cells it has")
    if design.missing:
        print(f"tipsd importance: warning: partial grid: {design.missing_text()} have no finished run; the "
              "numbers mix the weights' effects", file=sys.stderr)
    imp = weight_importances(runs, col, higher_is_better=higher, seed=args.seed)
    effects, inter = main_effects(runs, col), interactions(runs, col)
    if not design.effects_shown:
        effects, inter = effects.iloc[0:0], inter.iloc[0:0]
    notes = design.notes() + list(imp.attrs.get("notes", []))
    if args.format == "csv":
        text = imp.to_csv(index=False) + "\n" + effects.to_csv(index=False) + "\n" + inter.to_csv(index=False)
        for note in notes:  # CSV stays data
            print(f"note: {note}", file=sys.stderr)
    else:
        imp_md, effects_md, inter_md = importance_tables(imp, effects, inter)
        sections = ["## Importance (normalised)\n\n" + imp_md]
        if design.effects_shown:
            sections += ["## Main effects\n\n" + effects_md,
                         "## Interactions (share of total sum of squares)\n\n" + inter_md]
        text = "\n\n".join(sections) + "\n" + "".join(f"\nNote: {n}\n" for n in notes)
    _emit(text, args.output)
    return 0


def _common(p: argparse.ArgumentParser, *, metric: bool = True) -> None:
    p.add_argument("study", metavar="STUDY", help="study name in the storage")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"Optuna storage URL (default: {DEFAULT_STORAGE})")
    if metric:
        p.add_argument("--metric", default=None,
                       help="value (default: the study's objective), Total, Head…Ankle, oks_ap, L_com, …")


def _layout(p: argparse.ArgumentParser) -> None:
    names = ", ".join(GAMMA_NAMES)
    p.add_argument("--rows", type=_weight_name, metavar="WEIGHT", help=f"weight on the rows ({names})")
    p.add_argument("--cols", type=_weight_name, metavar="WEIGHT", help="weight on the columns")
    p.add_argument("--blocks", type=_weight_name, metavar="WEIGHT", help="weight of the blocks (Table II: gamma_red)")
    p.add_argument("--where", type=_parse_cell, action="append", metavar="NAME=VALUE",
                   help="keep only runs with these weights (repeatable), e.g. --where gamma_s=0.1")
    p.add_argument("--decimals", type=_decimals, default=1, help="digits after the point (default: 1)")


def _add(subparsers, name: str, help_: str, example: str, *, study: bool = True, metric: bool = True,
         layout: bool = False) -> argparse.ArgumentParser:
    """A command's parser: help with its example, then (for a command on a stored study) the study,
    --storage and --metric, and (for a table or heatmap) the layout options."""
    p = subparsers.add_parser(name, help=help_, description=f"{help_}\n\nExample:\n  {example}",
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    if study:
        _common(p, metric=metric)
    if layout:
        _layout(p)
    return p


def _output(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", help="write here instead of stdout")


def add_table(subparsers, name: str) -> argparse.ArgumentParser:
    """``tipsd table``: its options."""
    p = _add(subparsers, name, "tabulate a stored study in the paper's layout (Markdown, LaTeX, CSV)",
             "tipsd table table2 --storage sqlite:///tipsd.db --blocks gamma_red --rows gamma_var "
             "--cols gamma_com --format latex", layout=True)
    p.add_argument("--format", choices=("markdown", "latex", "csv"), default="markdown")
    p.add_argument("--joints", type=_parse_cell, action="append", metavar="CELL",
                   help="per-joint table (Head … Ankle, Total) of these cells instead, e.g. "
                        "--joints gamma_info=1,gamma_s=0.1 (repeatable)")
    _output(p)
    return p


def add_paper(subparsers, name: str) -> argparse.ArgumentParser:
    """``tipsd paper``: its options."""
    p = _add(subparsers, name, "print the published Table I or II (reference values) in its layout",
             "tipsd paper table2 --format latex", study=False)
    p.add_argument("table", choices=("table1", "table2"))
    p.add_argument("--format", choices=("markdown", "latex", "csv"), default="markdown")
    _output(p)
    return p


def add_compare(subparsers, name: str) -> argparse.ArgumentParser:
    """``tipsd compare``: its options."""
    p = _add(subparsers, name, "compare a study with a published table: Spearman ρ, best cells, claims",
             "tipsd compare table1 --paper table1 --baseline 77.3")
    p.add_argument("--paper", choices=("table1", "table2"), required=True, help="published table to compare with")
    p.add_argument("--baseline", type=float, default=None,
                   help="the reproduction's HRNet baseline mAP (claim 1; else 'not testable')")
    p.add_argument("--decimals", type=_decimals, default=2, help="digits after the point (default: 2)")
    _output(p)
    return p


def add_heatmap(subparsers, name: str) -> argparse.ArgumentParser:
    """``tipsd heatmap``: its options."""
    p = _add(subparsers, name, "draw a study as annotated heatmaps (one panel per block), PNG, PDF or SVG",
             "tipsd heatmap table2 -o table2.pdf", layout=True)
    p.add_argument("-o", "--output", required=True, help="output file (.png, .pdf or .svg)")
    return p


def add_report(subparsers, name: str) -> argparse.ArgumentParser:
    """``tipsd report``: its options."""
    p = _add(subparsers, name, "write a Markdown + HTML report of a study; upload its figures as artifacts",
             "tipsd report table1 -o reports/table1")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--artifact-dir", default=None, help="artifact folder (default: next to the SQLite file)")
    p.add_argument("--no-upload", action="store_true", help="do not upload the figures as Optuna artifacts")
    p.add_argument("--baseline", type=float, default=None, help="HRNet baseline mAP for claim 1")
    return p


def add_export(subparsers, name: str) -> argparse.ArgumentParser:
    """``tipsd export``: its options."""
    p = _add(subparsers, name, "export a study as a tidy table, one row per run (CSV or Parquet)",
             "tipsd export table1 --format parquet -o table1.parquet", metric=False)
    p.add_argument("--format", choices=("csv", "parquet"), default="csv")
    p.add_argument("--all-states", action="store_true", help="include FAIL, PRUNED and RUNNING trials")
    p.add_argument("-o", "--output", help="output file (CSV: default stdout)")
    return p


def add_importance(subparsers, name: str) -> argparse.ArgumentParser:
    """``tipsd importance``: its options."""
    p = _add(subparsers, name, "weight importances (PED-ANOVA, fANOVA), main effects and interactions",
             "tipsd importance table2 --metric Total")
    p.add_argument("--seed", type=int, default=0, help="fANOVA seed (default: 0)")
    p.add_argument("--partial", action="store_true",
                   help="compute over a grid study's finished cells even when some have no run (refused "
                        "otherwise: the numbers then mix the weights' effects), with that warning")
    p.add_argument("--format", choices=("markdown", "csv"), default="markdown")
    _output(p)
    return p
