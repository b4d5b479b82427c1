"""`tipsd report`: one Markdown + HTML report of a stored study, figures uploaded as Optuna artifacts.

Sections: metadata (spec, version, counts per state, durations, failure reasons), the table in the
paper's layout, heatmap, per-cell statistics (95 % t-interval, seed-blocked Holm test against the best,
bootstrap probability of being best), importances, main effects, interactions, per-joint AP of the
best cell, and the comparison with the published table whose weights the study varies.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from tipsd.analysis.runs import (
    AnalysisError,
    higher_is_better,
    load_runs,
    load_study,
    metric_column,
    require_finished,
    study_info,
)
from tipsd.analysis.names import user_text
from tipsd.analysis.settings import cell_statistics, is_sampled, ranked_settings, render_settings
from tipsd.analysis.tables import build_table, fmt_value, greek, joint_table, render_frame, render_table, varying_weights
from tipsd.analysis.text_tables import frame_rows, markdown_table
from tipsd.model.record import GAMMA_NAMES, METRIC, masked_url


@dataclass
class Report:
    """Where a report went: the Markdown and HTML files, its figures, and their artifact ids."""

    markdown: Path
    html: Path
    figures: list[Path] = field(default_factory=list)
    artifact_ids: list[str] = field(default_factory=list)
    # why the paper's Fig. 1 and Fig. 2 were not drawn ("" when drawn or not asked for)
    figures_missing: str = ""
    # figure files of an earlier report in the folder that this one did not redraw, deleted
    removed: list[Path] = field(default_factory=list)


# Every figure file a report may write (`build_report_markdown`, `tipsd.sweep.figures.report_figures`):
# one left from an earlier report that this one does not redraw is deleted, so that the folder never
# shows a figure of other data than its report.
REPORT_FIGURES = ("heatmap.png", "heatmap.pdf", "main_effects.png", "fig1_interim.png", "fig1_interim.pdf",
                  "fig2_results.png", "fig2_results.pdf")


def _remove_stale(out: Path, drawn: list[Path]) -> list[Path]:
    """Delete the `REPORT_FIGURES` in `out` that are not among `drawn` (PNGs; their PDFs count too)."""
    kept = {p.name for f in drawn for p in (f, f.with_suffix(".pdf"))}
    removed = []
    for name in REPORT_FIGURES:
        path = out / name
        if name not in kept and path.is_file():
            path.unlink()
            removed.append(path)
    return removed


def _ensure_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".tipsd-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise AnalysisError(f"cannot write to '{path}': {err.strerror or err}") from None


def markdown_frame(frame: pd.DataFrame, decimals: int = 2) -> str:
    """A result frame as a Markdown table: counts as integers, weight values (columns ``γ_…`` and
    ``value``) as the paper prints them, other numbers with `decimals` digits."""
    frame = frame.copy()
    for c in frame.columns:
        if c in ("n", "n_cells", "n_pairs"):
            frame[c] = frame[c].astype(int)
        elif str(c).startswith("γ_") or c == "value":  # weight values print as the paper does
            frame[c] = frame[c].map(fmt_value)
    return markdown_table([str(c) for c in frame.columns], frame_rows(frame, decimals))


def importance_tables(imp: pd.DataFrame, effects: pd.DataFrame, inter: pd.DataFrame) -> tuple[str, str, str]:
    """Markdown of `weight_importances`, `main_effects` and `interactions` (weights in Greek), as the
    report and `tipsd importance` print them."""
    return (markdown_frame(imp.assign(weight=imp["weight"].map(greek)), 3),
            markdown_frame(effects.assign(weight=effects["weight"].map(greek))),
            markdown_frame(inter.assign(weight_a=inter["weight_a"].map(greek),
                                        weight_b=inter["weight_b"].map(greek)), 3))


def build_report_markdown(study, all_runs: pd.DataFrame, *, metric: str | None = None, out_dir: Path,
                          n_boot: int = 2000, baseline: float | None = None) -> tuple[str, list[Path]]:
    """The report's Markdown and the figures it drew into `out_dir` (see `write_report`)."""
    from tipsd.analysis.heatmap import save_heatmap
    from tipsd.analysis.importance import (importance_design, interactions, main_effects, plot_main_effects,
                                           weight_importances)
    from tipsd.analysis.footers import progress_line, signal_text, study_plan
    from tipsd.analysis.paper import compare_with_paper, render_comparison, table_axes

    info = study_info(study, all_runs)
    runs = all_runs[all_runs["state"] == "COMPLETE"].reset_index(drop=True)
    require_finished(runs, info.name, info.counts)
    col = metric_column(runs, metric)
    higher = higher_is_better(col, info.direction)
    name = info.metric if col == "value" else col
    md: list[str] = [f"# tipsd report: study `{info.name}`", ""]
    attrs = info.user_attrs
    md += ["## Study", "",
           f"- Description: {user_text(attrs.get('tipsd.description') or '–')}",
           f"- tipsd version: {user_text(attrs.get('tipsd.version') or '–')}; "
           f"sampler: {user_text(attrs.get('tipsd.sampler') or '–')}",
           f"- Metric: {name} ({info.direction}); tabulated column: `{col}`",
           f"- Trials per state: " + ", ".join(f"{s} {n}" for s, n in sorted(info.counts.items())),
           f"- Finished runs: {len(runs)}, cells: {runs.groupby(list(GAMMA_NAMES), dropna=False).ngroups}, "
           f"seeds: {', '.join(str(s) for s in sorted(runs['seed'].dropna().unique())) or '–'}"]
    dur = runs["duration_s"].dropna() if "duration_s" in runs else pd.Series(dtype=float)
    if len(dur):
        md.append(f"- Duration per run: mean {dur.mean():.1f} s, median {dur.median():.1f} s, "
                  f"max {dur.max():.1f} s, total {dur.sum() / 3600:.2f} h")
    if "fail_reason" in all_runs:
        reasons = all_runs.loc[all_runs["state"] == "FAIL", "fail_reason"].dropna().value_counts()
        md += [f"- Failed ({n}): {r}" for r, n in reasons.items()]
    from tipsd.analysis.racing import study_race

    plan = study_plan(attrs)
    race = study_race(info, all_runs)
    partial = progress_line(plan, runs, race=race)
    if partial:
        md.append(f"- {partial}")
    figures: list[Path] = []

    md += ["", "## Table", ""]
    table = None
    sampler = is_sampled(attrs)
    if sampler:  # its settings are no grid: ranked, without a heatmap
        md += [render_settings(ranked_settings(runs, col, higher=higher, n_boot=n_boot), "markdown", decimals=2,
                               sampler=sampler, limit=20),
               f"No heatmap: the {sampler} sampler's settings are not a grid (a heatmap needs each weight's "
               "values crossed with the others').", ""]
        if partial:
            md += [partial, ""]
    else:
        try:
            table = build_table(runs, metric=col, higher_is_better=higher, n_boot=n_boot, race=race,
                                grid=plan.grid)
        except AnalysisError as err:
            md.append(f"No paper-layout table: {err}. The cells are listed below.")
    if table is not None:
        if table.fixed:
            md.append("Fixed: " + ", ".join(f"{greek(k)}={fmt_value(v)}" for k, v in table.fixed.items()))
            md.append("")
        md.append(render_table(table, "markdown", decimals=2))
        if partial:
            md += [partial, ""]
        fig = save_heatmap(table, out_dir / "heatmap.png", decimals=2, title=name, caption=partial)
        save_heatmap(table, out_dir / "heatmap.pdf", decimals=2, title=name, caption=partial)
        figures.append(fig)
        md += [f"![heatmap]({fig.name})", ""]

    md.append(signal_text(runs, col, higher_is_better=higher).markdown)

    stats = cell_statistics(runs, col, higher=higher, n_boot=n_boot)
    vary = varying_weights(runs) or [GAMMA_NAMES[0]]
    if not sampler:  # a sampled study's table above is already this list
        md += ["## Cells", "",
               "Mean over seeds with a 95 % t-interval; p (Holm): t-test against the best cell on the "
               f"seed-blocked ANOVA's pooled error (cell + seed), Holm-corrected; P(best): bootstrap over seeds ({n_boot} replicates, seed 0).", ""]
        shown = stats[vary + ["mean", "ci_low", "ci_high", "n", "p_holm", "distinguishable", "p_best"]].head(20)
        shown = shown.rename(columns={g: greek(g) for g in vary})
        md += [markdown_frame(shown), ""]
        if len(stats) > 20:
            md += [f"({len(stats) - 20} more cells not shown; `tipsd export` has them all.)", ""]

    md += ["## Importance", "", "PED-ANOVA (target quantile 0.1) and fANOVA (64 trees, seed 0) through "
           "`optuna.importance`, over the weights as trained.", ""]
    imp = weight_importances(runs, col, higher_is_better=higher)
    design = importance_design(runs, col, grid=plan.grid, sampler=sampler)
    effects, inter = main_effects(runs, col), interactions(runs, col)
    if not design.effects_shown:
        effects, inter = effects.iloc[0:0], inter.iloc[0:0]
    imp_md, effects_md, inter_md = importance_tables(imp, effects, inter)
    md += [imp_md, ""]
    md += [line for n in design.notes() + list(imp.attrs.get("notes", [])) for line in (f"Note: {n}", "")]
    if len(effects):
        import matplotlib.pyplot as plt

        md += ["", "## Main effects", "", effects_md, ""]
        ax = plot_main_effects(effects=effects, ylabel=name)
        path = out_dir / "main_effects.png"
        ax.figure.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(ax.figure)
        figures.append(path)
        md += [f"![main effects]({path.name})", ""]
    if len(inter):
        md += ["## Interactions", "", "Share of the total sum of squares due to each pair's interaction "
               "(additive vs cell-mean least-squares fits).", "", inter_md, ""]

    if any(c.startswith(METRIC) for c in runs.columns) and len(stats):
        best = {g: stats.loc[0, g] for g in vary}
        md += ["## Per-joint AP of the best cell", "", render_frame(joint_table(runs, [best]), decimals=2)]

    for paper in ("table1", "table2"):
        if vary and set(vary) <= set(table_axes(paper)):
            md += ["## Comparison with the paper", ""]
            comparison = compare_with_paper(runs, paper, metric=col, baseline=baseline)
            md.append(render_comparison(comparison, decimals=2, level=3))

    spec = attrs.get("tipsd.spec")
    if isinstance(spec, dict) and "storage" in spec:  # stored by an older tipsd; may hold a password
        spec = {**spec, "storage": masked_url(spec["storage"])}
    if spec is not None:
        md += ["## Study spec", "", f"spec hash: `{attrs.get('tipsd.spec_hash', '–')}`", "", "```json",
               json.dumps(spec, indent=2, sort_keys=True, default=str), "```", ""]
    return "\n".join(md) + "\n", figures


def write_report(
    storage: Any,
    study_name: str,
    out_dir: str | Path,
    *,
    metric: str | None = None,
    artifact_dir: str | Path | None = None,
    upload: bool = True,
    n_boot: int = 2000,
    baseline: float | None = None,
    paper_figures: Callable[[Path], tuple[list[tuple[str, Path]], list[str]]] | None = None,
) -> Report:
    """Write ``report.md`` and ``report.html`` (and the figures) for a stored study into `out_dir`.

    Args:
        storage: the Optuna storage URL.
        study_name: the study to report on.
        out_dir: output folder (created).
        metric: column or metric name (default: the study's objective).
        artifact_dir: where figures are uploaded (default: `default_artifact_dir(storage)`).
        upload: upload the figures as Optuna artifacts of the study (shown by optuna-dashboard).
        n_boot: bootstrap replicates for P(best).
        baseline: the reproduction's HRNet baseline, for claim 1 of the comparison.
        paper_figures: draws the paper's Fig. 1 and Fig. 2 into the report folder and returns
            ``([(caption, PNG)], notes)`` (`tipsd.sweep.figures.report_figures`: it runs networks, which
            the analysis never does); its section goes at the end of the report.

    Returns:
        A `Report`.

    Example:
        >>> write_report("sqlite:///tipsd.db", "table1", "report/")  # doctest: +SKIP
    """
    from tipsd.analysis.html import markdown_to_html

    out = Path(out_dir)
    study = load_study(storage, study_name)
    all_runs = load_runs(storage, study_name, all_states=True)
    _ensure_dir(out)
    text, figures = build_report_markdown(study, all_runs, metric=metric, out_dir=out, n_boot=n_boot,
                                          baseline=baseline)
    # ---- the paper's figures (issue 12): drawn by the caller, listed and uploaded here
    missing = ""
    if paper_figures is not None:
        from tipsd.analysis.paper_figures import figures_markdown

        items, notes = paper_figures(out)
        text += "\n" + figures_markdown(items, notes)
        figures += [png for _, png in items]
        missing = "" if items else "; ".join(notes) or "no figure was drawn"
    removed = _remove_stale(out, figures)
    md_path, html_path = out / "report.md", out / "report.html"
    md_path.write_text(text, encoding="utf-8")
    html_path.write_text(markdown_to_html(text, title=f"tipsd report: {study_name}"), encoding="utf-8")
    ids: list[str] = []
    if upload and figures:
        import optuna

        from tipsd.analysis.artifacts import artifact_store, upload_or_replace

        if not isinstance(storage, str) and artifact_dir is None:
            artifact_dir = "tipsd-artifacts"
        store = artifact_store(storage if isinstance(storage, str) else "", artifact_dir)
        # The study as read is opened read-only (tipsd.analysis.readonly); uploading writes to it.
        target = optuna.load_study(study_name=study_name, storage=storage) if isinstance(storage, str) else study
        for fig in figures:
            ids.append(upload_or_replace(store, fig, target))
    return Report(md_path, html_path, figures, ids, missing, removed)
