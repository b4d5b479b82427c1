"""Drawing the paper's Fig. 1 (synthesized interim poses) and Fig. 2 (pose results on hard frames).

The arrays come from `tipsd.model.figure_data` (run by `tipsd viz` and `tipsd report` in
`tipsd.sweep`); this module only draws them, with matplotlib, and never imports torch. Each figure
is one column per compared setting ("panel": a label and its data dict), the same clips or frames
in every column. `figure_digest` hashes the arrays a figure is drawn from: the same inputs give the
same digest (tests assert on it, not on PNG bytes).

Fig. 1, per clip (the paper's colours): the key frame's crop; each moving joint's location in the
previous frame (green circle) and in the next frame (cyan circle), the straight trajectory between
them (blue arrow), the synthesizer's interim locations at each α (blue stars) and the ground-truth
interim target (white ×); the zoomed region (pink box) is enlarged in the row below.

Fig. 2, per frame: the full frame with the PoseTrack18 skeleton (poseval's limbs, one colour per
limb), the ground truth in the first column, each setting's prediction in the next ones with the
frame's PCKh@0.5 in the corner.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tipsd.model.posetrack18 import SKELETON

PREV_COLOUR, NEXT_COLOUR, SYNTH_COLOUR, BOX_COLOUR = "#2ca02c", "#17becf", "#1f3fbf", "#ff69b4"
ZOOM_PAD = 4.0  # input pixels around the zoomed joints' points


def figure_digest(panels: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """sha256 over the labels and arrays a figure is drawn from (keys sorted; dtype, shape, bytes).

    Example:
        >>> figure_digest([("a", {"x": np.zeros(2)})]) == figure_digest([("a", {"x": np.zeros(2)})])
        True
    """
    h = hashlib.sha256()

    def add(value: Any) -> None:
        if isinstance(value, (list, tuple)):
            h.update(f"list{len(value)}".encode())
            for v in value:
                add(v)
            return
        arr = np.ascontiguousarray(np.asarray(value))
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(arr.tobytes())

    for label, data in panels:
        h.update(label.encode())
        for key in sorted(data):
            h.update(key.encode())
            add(data[key])
    return h.hexdigest()


def zoom_box(data: dict[str, np.ndarray], clip: int, pad: float = ZOOM_PAD) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) around the moving joints' previous, next, synthesized and target points of
    `clip`, padded by `pad` and clipped to the crop; the whole crop when no joint moves.

    Example:
        >>> d = {"image": np.zeros((1, 64, 48, 3)), "moving": np.array([[0, -1, -1]]),
        ...      "prev": np.array([[[10.0, 20.0]]]), "next": np.array([[[14.0, 22.0]]]),
        ...      "synth": np.array([[[[12.0, 21.0]]]]), "target": np.array([[[[12.0, 21.0]]]])}
        >>> zoom_box(d, 0, pad=2)
        (8.0, 18.0, 16.0, 24.0)
    """
    h, w = data["image"].shape[1:3]
    joints = [int(j) for j in data["moving"][clip] if j >= 0]
    if not joints:
        return 0.0, 0.0, float(w - 1), float(h - 1)
    pts = np.concatenate([data["prev"][clip, joints], data["next"][clip, joints],
                          data["synth"][clip][:, joints].reshape(-1, 2), data["target"][clip][:, joints].reshape(-1, 2)])
    lo, hi = pts.min(0) - pad, pts.max(0) + pad
    return (float(max(lo[0], 0)), float(max(lo[1], 0)), float(min(hi[0], w - 1)), float(min(hi[1], h - 1)))


def _draw_interim_clip(ax, data: dict[str, np.ndarray], clip: int, box: tuple[float, float, float, float] | None) -> None:
    from matplotlib.patches import Rectangle

    ax.imshow(data["image"][clip], interpolation="nearest")
    for j in [int(j) for j in data["moving"][clip] if j >= 0]:
        p, q = data["prev"][clip, j], data["next"][clip, j]
        ax.annotate("", xy=q, xytext=p, arrowprops=dict(arrowstyle="->", color=SYNTH_COLOUR, lw=1.2))
        ax.plot(*p, "o", mfc="none", mec=PREV_COLOUR, mew=1.5, ms=8)
        ax.plot(*q, "o", mfc="none", mec=NEXT_COLOUR, mew=1.5, ms=8)
        ax.plot(data["target"][clip, :, j, 0], data["target"][clip, :, j, 1], "x", color="white", ms=5, mew=1)
        ax.plot(data["synth"][clip, :, j, 0], data["synth"][clip, :, j, 1], "*", color=SYNTH_COLOUR, ms=8,
                mec="white", mew=0.4)
    x0, y0, x1, y1 = zoom_box(data, clip)
    if box is None:  # the full crop: outline the dynamic area that the next row enlarges
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec=BOX_COLOUR, lw=1.5))
    else:
        ax.set_xlim(box[0], box[2])
        ax.set_ylim(box[3], box[1])
    ax.set_xticks([])
    ax.set_yticks([])


def draw_interim(*, panels: Sequence[tuple[str, dict[str, np.ndarray]]]):
    """Fig. 1: one column per setting, two rows per clip (crop, then its zoomed dynamic area).

    Args:
        panels: ``(label, interim_figure_data dict)`` per setting, the same clips in each.

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: no panel, or panels with different clips (``image_id``/``track_id``).
    """
    import matplotlib.pyplot as plt

    _check_same(panels, ("image_id", "track_id"), "clips")
    n_clips, cols = len(panels[0][1]["image_id"]), len(panels)
    fig, axes = plt.subplots(2 * n_clips, cols, figsize=(2.4 * cols + 0.6, 2.0 * 2 * n_clips + 0.6), squeeze=False)
    for c, (label, data) in enumerate(panels):
        for k in range(n_clips):
            _draw_interim_clip(axes[2 * k, c], data, k, None)
            _draw_interim_clip(axes[2 * k + 1, c], data, k, zoom_box(data, k))
            if k == 0:
                axes[0, c].set_title(label, fontsize=8)
        for k in range(n_clips):
            axes[2 * k, 0].set_ylabel(f"clip {k + 1}", fontsize=8)
            axes[2 * k + 1, 0].set_ylabel("zoom", fontsize=8)
    alphas = ", ".join(f"{a:g}" for a in panels[0][1]["alphas"])
    fig.suptitle(f"joint at t−δ (green ○) and t+δ (cyan ○), trajectory (arrow),\nsynthesized at α = {alphas} "
                 "(blue ★), target (white ×)", fontsize=8)
    fig.tight_layout()
    return fig


def _skeleton(ax, people: np.ndarray, lw: float = 1.5) -> None:
    """PoseTrack18 skeletons of `people` (P, K, 3): x, y, present; one colour per limb."""
    import matplotlib.pyplot as plt

    colours = plt.get_cmap("tab20")
    for person in people:
        for i, (a, b) in enumerate(SKELETON):
            pa, pb = person[a - 1], person[b - 1]  # poseval's skeleton is 1-based
            if pa[2] > 0 and pb[2] > 0:
                ax.plot([pa[0], pb[0]], [pa[1], pb[1]], "-", color=colours(i % 20), lw=lw, solid_capstyle="round")


def draw_results(*, panels: Sequence[tuple[str, dict[str, Any]]]):
    """Fig. 2: ground truth, then one column per setting; one row per frame; PCKh in the corner.

    Args:
        panels: ``(label, results_figure_data dict)`` per setting, the same frames in each.

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: no panel, or panels with different frames.
    """
    import matplotlib.pyplot as plt

    _check_same(panels, ("frames",), "frames")
    first = panels[0][1]
    n, cols = len(first["image"]), len(panels) + 1
    h, w = first["image"][0].shape[:2]
    fig, axes = plt.subplots(n, cols, figsize=(2.6 * cols * w / max(h, w) + 0.5, 2.6 * n * h / max(h, w) + 0.5),
                             squeeze=False)
    for r in range(n):
        columns = [("ground truth", first["gt"][r], None)] + [(lab, d["pred"][r], d["pckh"][r]) for lab, d in panels]
        for c, (label, people, pckh) in enumerate(columns):
            ax = axes[r, c]
            ax.imshow(first["image"][r], interpolation="nearest")
            _skeleton(ax, people)
            if pckh is not None:
                text = "PCKh –" if not np.isfinite(pckh) else f"PCKh {100 * pckh:.0f} %"
                ax.text(0.02, 0.98, text, transform=ax.transAxes, va="top", ha="left", fontsize=7, color="white",
                        bbox=dict(fc="black", alpha=0.6, lw=0, pad=1.5))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(label, fontsize=8)
        video, image_id = (int(v) for v in first["frames"][r])
        axes[r, 0].set_ylabel(f"video {video}\nimage {image_id}", fontsize=7)
    fig.suptitle("hardest validation frames (lowest PCKh@0.5, mean over the settings shown)", fontsize=8)
    fig.tight_layout()
    return fig


def _check_same(panels, keys: tuple[str, ...], what: str) -> None:
    if not panels:
        raise ValueError("no setting to draw")
    ref = panels[0][1]
    for label, data in panels[1:]:
        if any(not np.array_equal(np.asarray(data[k]), np.asarray(ref[k])) for k in keys):
            raise ValueError(f"setting {label!r} shows other {what} than {panels[0][0]!r}: every column "
                             f"must show the same {what}")


def save_figure(fig, path: str | Path) -> list[Path]:
    """Write `fig` as PNG and PDF (``path`` with each suffix; `path` ends in .png or .pdf) and close it.

    The PDF carries no creation date, so the same figure gives the same file.

    Raises:
        ValueError: another suffix.
    """
    import matplotlib.pyplot as plt

    path = Path(path)
    if path.suffix.lower() not in (".png", ".pdf"):
        raise ValueError(f"-o {str(path)!r}: the figure is written as .png and .pdf; name one of the two")
    path.parent.mkdir(parents=True, exist_ok=True)
    out = [path.with_suffix(".png"), path.with_suffix(".pdf")]
    fig.savefig(out[0], dpi=150, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(out[1], bbox_inches="tight", metadata={"CreationDate": None, "Creator": None, "Producer": None})
    plt.close(fig)
    return out


def figures_markdown(items: Sequence[tuple[str, Path]], notes: Sequence[str] = ()) -> str:
    """The report's section on the paper's figures: each (caption, PNG) with a link to its PDF."""
    md = ["## The paper's figures", ""]
    for caption, png in items:
        md += [f"{caption}", "", f"![{png.stem}]({png.name}) ([PDF]({png.with_suffix('.pdf').name}))", ""]
    md += [f"Note: {n}" for n in notes]
    return "\n".join(md) + "\n"


__all__ = ["draw_interim", "draw_results", "figure_digest", "figures_markdown", "save_figure", "zoom_box"]
