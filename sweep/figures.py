"""The paper's figures from a stored study: pick the cells, load their kept weights, compute, draw.

The glue between `tipsd.model.figure_data` (runs the networks) and `tipsd.analysis.paper_figures`
(draws), used by `tipsd viz interim|results` and by `tipsd report`. A cell is drawn from the trial
whose weights the study kept for it (`tipsd.sweep.keep_weights.kept_weights`: the best seed of
the cell under ``keep_weights = "best-per-cell"``).
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from tipsd.model.errors import DataError, TipsdError
from tipsd.model.record import GAMMA_NAMES, WEIGHTS_ARTIFACT, cell_key


class FigureError(TipsdError):
    """A figure cannot be drawn: unknown cell, no kept weights, a deleted weights file."""


@dataclass
class Setting:
    """One column of a figure: its label, the network and its config."""

    label: str
    net: Any
    config: Any


def cell_label(gammas: Mapping[str, float], names: Sequence[str]) -> str:
    """``"γ_info=0, γ_s=0.1"``: the weights `names` of a cell as the paper writes them."""
    from tipsd.analysis.tables import fmt_value, greek

    return ", ".join(f"{greek(n)}={fmt_value(gammas[n])}" for n in names)


def _runs(storage: str, study_name: str):
    from tipsd.analysis.runs import load_runs, load_study, require_finished, study_info

    study = load_study(storage, study_name)
    runs = load_runs(storage, study_name, all_states=True)
    info = study_info(study, runs)
    done = runs[runs["state"] == "COMPLETE"].reset_index(drop=True)
    require_finished(done, study_name, info.counts)
    return study, done, info


def default_cells(runs, direction: str, notes: list[str] | None = None) -> list[dict[str, float]]:
    """The best cell (mean value over seeds) and, when the study has it, the cell whose varying
    weights are all 0, in that order (one cell when they are the same); a study without that cell
    adds a line to `notes`."""
    from tipsd.analysis.runs import aggregate_cells
    from tipsd.analysis.tables import varying_weights

    vary = varying_weights(runs) or [GAMMA_NAMES[0]]
    agg = aggregate_cells(runs, "value", by=list(GAMMA_NAMES))
    agg = agg.sort_values("mean", ascending=direction != "maximize", kind="stable")
    cells = [{g: float(agg.iloc[0][g]) for g in GAMMA_NAMES}]
    zero = agg[(agg[vary] == 0).all(axis=1)]
    if len(zero):
        z = {g: float(zero.iloc[0][g]) for g in GAMMA_NAMES}
        if z != cells[0]:
            cells.append(z)
    elif notes is not None:
        notes.append(f"the study has no cell with {' = '.join(vary)} = 0; only its best cell is drawn")
    return cells


def match_cells(runs, wanted: Sequence[Mapping[str, float]], study_name: str) -> list[dict[str, float]]:
    """The study's cells (all five weights) that each partial weight dict of `wanted` names.

    Raises:
        FigureError: an unknown weight, or a dict that matches no cell or several (names them).
    """
    from tipsd.analysis.tables import varying_weights

    from tipsd.analysis.names import did_you_mean

    cells = runs[list(GAMMA_NAMES)].drop_duplicates().to_dict("records")
    out = []
    for want in wanted:
        for name in want:
            if name not in GAMMA_NAMES:
                raise FigureError(f"--cells {name}={want[name]:g}: unknown weight{did_you_mean(name, GAMMA_NAMES)}")
        hits = [c for c in cells if all(float(c[n]) == float(v) for n, v in want.items())]
        text = ",".join(f"{n}={v:g}" for n, v in want.items())
        if not hits:
            # the cell nearest on the weights given (sum of absolute differences)
            near = min(cells, key=lambda c: sum(abs(float(c[n]) - float(v)) for n, v in want.items()))
            raise FigureError(f"--cells {text}: study '{study_name}' has no finished run with these weights; "
                              f"did you mean {','.join(f'{n}={float(near[n]):g}' for n in want)}?")
        if len(hits) > 1:
            vary = [n for n in varying_weights(runs) if n not in want]
            raise FigureError(f"--cells {text}: matches {len(hits)} cells of study '{study_name}'; add "
                              f"{' and '.join(vary)} to name one")
        out.append({n: float(hits[0][n]) for n in GAMMA_NAMES})
    return out


def cell_settings(storage: str, study_name: str, cells: Sequence[Mapping[str, float]] | None = None,
                  artifact_dir: str | Path | None = None, notes: list[str] | None = None) -> list[Setting]:
    """The networks of `cells` (partial weight dicts; default `default_cells`) from their kept weights.

    Raises:
        FigureError: a cell without kept weights, or whose weights file was deleted (names the
            trial, the artifact and the folder).
    """
    import optuna

    from tipsd.analysis.artifacts import default_artifact_dir
    from tipsd.analysis.tables import varying_weights
    from tipsd.sweep.keep_weights import artifact_exists, kept_weights

    study, runs, info = _runs(storage, study_name)  # opened read-only (an archive works)
    chosen = match_cells(runs, cells, study_name) if cells else default_cells(runs, info.direction, notes)
    vary = varying_weights(runs) or [GAMMA_NAMES[0]]
    folder = Path(artifact_dir) if artifact_dir else default_artifact_dir(storage)
    # Read-only: an absent folder (nothing kept, or a read-only archive) is not created here.
    store = optuna.artifacts.FileSystemArtifactStore(str(folder))
    trials = study.get_trials(deepcopy=False)
    kept = kept_weights(trials, store, info.direction)
    settings = []
    for gammas in chosen:
        key = cell_key(gammas)
        label = cell_label(gammas, vary)
        if key not in kept:
            ids = [(t.number, t.user_attrs[WEIGHTS_ARTIFACT]) for t in trials
                   if t.user_attrs.get("cell") == key and WEIGHTS_ARTIFACT in t.user_attrs]
            gone = [f"trial {n} ({a})" for n, a in ids if not artifact_exists(store, a)]
            why = (f"its weights file is missing from {folder}: {', '.join(gone)} (deleted? rerun the cell "
                   "with a new study, or draw a tipsd train run with --checkpoint)") if gone else (
                   "no run of it kept its weights ([run] keep_weights = 'none', or trained before tipsd kept "
                   "them); to draw it, run the study again under a new name with [run] keep_weights = "
                   "'best-per-cell', or train the cell with tipsd train --checkpoint-dir DIR and draw it "
                   "with --checkpoint DIR")
            raise FigureError(f"cell {label} of study '{study_name}': {why}")
        net, cfg = _load_artifact(store, kept[key].user_attrs[WEIGHTS_ARTIFACT], folder)
        settings.append(Setting(f"{label} (seed {kept[key].user_attrs.get('seed', '?')})", net, cfg))
    return settings


def _load_artifact(store, artifact_id: str, folder: Path):
    from optuna.artifacts import download_artifact

    from tipsd.model.weights import load_network

    with tempfile.TemporaryDirectory(prefix="tipsd-weights-") as tmp:
        path = Path(tmp) / "weights.pt"
        download_artifact(artifact_store=store, artifact_id=artifact_id, file_path=str(path))
        try:
            return load_network(path)
        except DataError as err:
            raise FigureError(f"{folder / artifact_id}: {str(err).partition(': ')[2]}") from None


def checkpoint_settings(folders: Sequence[str | Path]) -> list[Setting]:
    """The networks of `tipsd train --checkpoint-dir` folders, labelled by folder and loss weights."""
    from tipsd.model.checkpoint import CHECKPOINT_FILE
    from tipsd.model.weights import load_checkpoint_network

    out = []
    for folder in folders:
        # say what is wrong with the path itself before the file inside it (kept weights are not involved)
        if not Path(folder).is_dir():
            what = "is a file, not a folder" if Path(folder).exists() else "does not exist"
            raise FigureError(f"--checkpoint {folder}: the path {what}; give the folder of "
                              "tipsd train --checkpoint-dir DIR")
        if not (Path(folder) / CHECKPOINT_FILE).is_file():
            raise FigureError(f"--checkpoint {folder}: the folder holds no {CHECKPOINT_FILE}; give the folder of "
                              "tipsd train --checkpoint-dir DIR (written at the end of each epoch)")
        net, cfg = load_checkpoint_network(folder)
        gammas = {g: getattr(cfg, g) for g in GAMMA_NAMES}
        out.append(Setting(f"{Path(folder).name}: {cell_label(gammas, GAMMA_NAMES)}", net, cfg))
    return out


def _same_data(settings: Sequence[Setting]) -> None:
    from tipsd.analysis.names import user_text

    keys = ("data", "input_height", "input_width", "delta", "heatmap_stride", "box_enlarge", "max_val_samples")
    ref = settings[0].config
    for s in settings[1:]:
        diff = [k for k in keys if getattr(s.config, k) != getattr(ref, k)]
        if diff:
            raise FigureError(f"{s.label} and {settings[0].label} were trained on different data or crops "
                              f"({diff[0]}: {user_text(getattr(s.config, diff[0]))} vs "
                              f"{user_text(getattr(ref, diff[0]))}); "
                              "a figure compares the same clips")


def interim_panels(settings: Sequence[Setting], clips: int = 3,
                   alphas: Sequence[float] | None = None) -> list[tuple[str, dict]]:
    """Fig. 1's data for each setting: the same `clips` training clips (the largest neighbour motion;
    the validation split labels too few neighbour frames) for every column."""
    from tipsd.model.figure_data import DEFAULT_ALPHAS, interim_clips, interim_figure_data
    from tipsd.model.train import clips_for

    _same_data(settings)
    dataset = clips_for(settings[0].config, "train")
    chosen = interim_clips(dataset, clips)
    return [(s.label, interim_figure_data(s.net, dataset, chosen, alphas or DEFAULT_ALPHAS, s.config.decode))
            for s in settings]


def results_panels(settings: Sequence[Setting], frames: int = 3) -> list[tuple[str, dict]]:
    """Fig. 2's data for each setting on the same `frames` hardest validation frames."""
    from tipsd.model.figure_data import frame_pckh, hardest_frames, results_figure_data
    from tipsd.model.train import clips_for

    _same_data(settings)
    dataset = clips_for(settings[0].config, "val")
    chosen = hardest_frames([frame_pckh(s.net, dataset, s.config.decode) for s in settings], frames)
    return [(s.label, results_figure_data(s.net, dataset, chosen, s.config.decode)) for s in settings]


def report_figures(storage: str, study_name: str, out_dir: Path, artifact_dir: str | Path | None = None,
                   ) -> tuple[list[tuple[str, Path]], list[str]]:
    """Fig. 1 and Fig. 2 of the best cell and the all-γ = 0 cell, drawn into `out_dir` for `tipsd report`.

    Returns:
        ``([(caption, PNG path)], notes)``; when the study kept no weights for those cells, no
        figure and a note saying why (a report is never refused for it).
    """
    from tipsd.analysis.paper_figures import draw_interim, draw_results, save_figure

    notes: list[str] = []
    try:
        settings = cell_settings(storage, study_name, None, artifact_dir, notes)
    except (TipsdError, OSError) as err:  # the report goes on without them, and says why
        return [], [f"Fig. 1 and Fig. 2 are not drawn: {err}"]
    names = " and ".join(s.label for s in settings)
    interim = save_figure(draw_interim(panels=interim_panels(settings)), Path(out_dir) / "fig1_interim.png")
    results = save_figure(draw_results(panels=results_panels(settings)), Path(out_dir) / "fig2_results.png")
    return [(f"Fig. 1: synthesized interim poses, {names}.", interim[0]),
            (f"Fig. 2: poses on the hardest validation frames, {names}.", results[0])], notes


__all__ = ["FigureError", "Setting", "cell_label", "cell_settings", "checkpoint_settings", "default_cells",
           "interim_panels", "match_cells", "report_figures", "results_panels"]
