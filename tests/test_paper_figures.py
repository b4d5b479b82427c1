"""The paper's figures on the tiny preset (issue 12's acceptance): kept weights reload to the same
predictions, Fig. 1's data is the synthesizer's decoded output, Fig. 2 picks the same frames twice,
and every figure is a function of its inputs (hashes of the arrays drawn, and of the pixels)."""
from __future__ import annotations

import json

import numpy as np
import optuna
import pytest
import torch

from tipsd.analysis.paper_figures import draw_interim, draw_results, figure_digest, save_figure, zoom_box
from tipsd.model.config import make_config
from tipsd.model.data.batches import ClipBatches
from tipsd.model.figure_data import frame_pckh, hardest_frames, interim_clips, interim_figure_data, results_figure_data
from tipsd.model.train import clips_for, train, validate
from tipsd.model.weights import load_checkpoint_network, load_network, save_weights
from tipsd.sweep.cli import main
from tipsd.sweep.figures import cell_settings, interim_panels, results_panels

FAST = {"epochs": 2, "max_train_samples": 32, "max_val_samples": 32}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny run (with a checkpoint folder) and its weights file."""
    folder = tmp_path_factory.mktemp("run")
    cfg = make_config("tiny", {**FAST, "gamma_s": 1.0})
    result = train(cfg, checkpoint_dir=folder / "ckpt")
    path = save_weights(folder / "w.pt", result.config, result.weights)
    return cfg, result, path, folder


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A real 1x2 grid (gamma_s 0 and 1, gamma_info 0: its (0, 0) cell is the all-zero one), 1 seed."""
    folder = tmp_path_factory.mktemp("study")
    (folder / "f.toml").write_text(f"""
name = "f"
seeds = [0]
[space]
gamma_info = [0]
gamma_s = [0, 1]
[train]
preset = "tiny"
overrides = {{ {", ".join(f"{k} = {v}" for k, v in FAST.items())} }}
""")
    url = f"sqlite:///{folder}/f.db"
    assert main(["run", str(folder / "f.toml"), "--storage", url, "--no-progress"]) == 0
    return url, folder


def _val_metrics(net, cfg):
    ds = clips_for(cfg, "val")
    return validate(net, ClipBatches(ds, "cpu").in_order(cfg.batch_size), ds.videos, torch.device("cpu"), False,
                    cfg.decode)


def test_weights_file_reloads_to_the_predictions_made_at_the_end_of_training(trained):
    cfg, result, path, _ = trained
    net, loaded_cfg = load_network(path)
    assert loaded_cfg == cfg
    metrics = _val_metrics(net, loaded_cfg)
    for key, value in result.metrics.items():  # every column, to the last bit
        assert metrics[key] == value, key
    assert "weights" not in result.to_dict() and path.stat().st_size < 200_000  # ~117 kB on tiny


def test_checkpoint_folder_gives_the_same_network(trained):
    _, result, path, folder = trained
    net_a, _ = load_network(path)
    net_b, _ = load_checkpoint_network(folder / "ckpt")
    for (k, a), (_, b) in zip(net_a.state_dict().items(), net_b.state_dict().items()):
        assert torch.equal(a, b), k


def test_a_swept_trials_kept_weights_give_its_stored_metrics(study):
    url, _ = study
    trials = {t.user_attrs["cell"]: t for t in optuna.load_study(study_name="f", storage=url).get_trials()}
    settings = cell_settings(url, "f", [{"gamma_s": 1.0}])
    trial = next(t for t in trials.values() if t.user_attrs["gamma_s"] == 1.0)
    metrics = _val_metrics(settings[0].net, settings[0].config)
    assert metrics["Total"] == pytest.approx(trial.user_attrs["metric.Total"], abs=0, rel=1e-12)
    assert metrics["oks_ap"] == pytest.approx(trial.user_attrs["metric.oks_ap"], abs=0, rel=1e-12)


def test_interim_data_is_the_synthesizers_decoded_output(trained):
    cfg, _, path, _ = trained
    net, _ = load_network(path)
    ds = clips_for(cfg, "train")
    chosen = interim_clips(ds, 2)
    data = interim_figure_data(net, ds, chosen, alphas=(0.0, 0.5, 1.0))
    frames = torch.stack([ds.sample(i)["frames"] for i in chosen])
    kps = torch.stack([ds.sample(i)["keypoints"] for i in chosen]).double().numpy()
    with torch.no_grad():
        out = net(frames)
        for a_i, alpha in enumerate((0.0, 0.5, 1.0)):
            hm = net.synthesize(out.feats_prev, out.feats_next, torch.full((2,), alpha))  # (N, K, h, w)
            flat = hm.flatten(2)
            peak, idx = flat.max(-1)
            x, y = (idx % hm.shape[-1]).double(), (idx // hm.shape[-1]).double()
            # the decoded point is the heatmap's argmax, moved at most a quarter pixel (HRNet), in input px
            assert np.all(np.abs(data["synth"][:, a_i, :, 0] / 4 - x.numpy()) <= 0.25)
            assert np.all(np.abs(data["synth"][:, a_i, :, 1] / 4 - y.numpy()) <= 0.25)
            assert np.allclose(data["synth_score"][:, a_i], peak.double().numpy())
    # neighbours, key frame and the interim target (1 - a) prev + a next: at a = 0 and 1 the neighbours
    assert np.array_equal(data["prev"], kps[:, 0, :, :2]) and np.array_equal(data["next"], kps[:, 2, :, :2])
    assert np.array_equal(data["target"][:, 0], data["prev"]) and np.array_equal(data["target"][:, 2], data["next"])
    assert np.allclose(data["target"][:, 1], (data["prev"] + data["next"]) / 2)
    assert data["image"].shape == (2, cfg.input_height, cfg.input_width, 3) and data["image"].dtype == np.uint8
    # the moving joints are labelled in both neighbours, largest motion first
    motion = np.linalg.norm(data["next"] - data["prev"], axis=-1)
    for n in range(2):
        joints = [j for j in data["moving"][n] if j >= 0]
        assert joints and all(data["labelled"][n, j] for j in joints)
        assert list(motion[n, joints]) == sorted(motion[n, joints], reverse=True)
        assert motion[n, joints[0]] == motion[n][data["labelled"][n]].max()


def test_clips_are_chosen_from_the_ground_truth_by_motion(trained):
    cfg = trained[0]
    ds = clips_for(cfg, "train")
    chosen = interim_clips(ds, 3)
    assert chosen == interim_clips(ds, 3)
    data = interim_figure_data(load_network(trained[2])[0], ds, range(len(ds)))
    moved = np.where(data["labelled"], np.linalg.norm(data["next"] - data["prev"], axis=-1), 0)
    mean = moved.sum(1) / np.maximum(data["labelled"].sum(1), 1)
    person = [(s.video, s.track_id) for s in ds.samples]
    assert mean[chosen[0]] == mean.max() and mean[chosen[0]] >= mean[chosen[1]] >= mean[chosen[2]]
    assert len({person[i] for i in chosen}) == 3  # three people, each at its largest motion
    for i in chosen:
        assert mean[i] == max(mean[j] for j in range(len(ds)) if person[j] == person[i])


def test_hardest_frames_by_hand():
    a = {(0, 1): 0.5, (0, 2): 0.0, (1, 3): 1.0, (1, 4): 0.2}
    b = {(0, 1): 0.1, (0, 2): 0.6, (1, 3): 0.0}  # (1, 4) not scored by b: left out
    # means: (0,1) 0.3, (0,2) 0.3, (1,3) 0.5 -> ties broken by (video, image id); one per video first
    assert hardest_frames([a, b], 2) == [(0, 1), (1, 3)]
    assert hardest_frames([a, b], 3) == [(0, 1), (1, 3), (0, 2)]
    assert hardest_frames([a], 1) == [(0, 2)]
    assert hardest_frames([a], 4) == [(0, 2), (1, 4), (0, 1), (1, 3)]


def test_results_figure_picks_the_same_frames_twice_and_the_same_for_every_cell(study):
    url, _ = study
    first = results_panels(cell_settings(url, "f"), frames=2)
    second = results_panels(cell_settings(url, "f"), frames=2)  # from scratch: weights, data, scores
    assert sorted(label for label, _ in first) == ["γ_s=0 (seed 0)", "γ_s=1 (seed 0)"]  # best and all-zero
    assert np.array_equal(first[0][1]["frames"], second[0][1]["frames"])
    assert np.array_equal(first[0][1]["frames"], first[1][1]["frames"])
    assert figure_digest(first) == figure_digest(second)
    for _, data in first:
        assert len(data["image"]) == 2 and data["pckh"].shape == (2,)
        assert np.all((data["pckh"] >= 0) & (data["pckh"] <= 1))
        assert data["gt"][0].shape[1:] == (17, 3)
    fig = draw_results(panels=first)
    assert len(fig.axes) == 2 * 3  # frames x (ground truth + 2 cells)
    shown = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert shown == [f"PCKh {100 * d['pckh'][r]:.0f} %" for r in range(2) for _, d in first]


def test_results_data_scores_frames_as_frame_pckh(study):
    url, _ = study
    setting = cell_settings(url, "f", [{"gamma_s": 1.0}])[0]
    ds = clips_for(setting.config, "val")
    scores = frame_pckh(setting.net, ds)
    frames = hardest_frames([scores], 3)
    data = results_figure_data(setting.net, ds, frames)
    assert list(data["pckh"]) == [scores[f] for f in frames]
    assert [len(p) for p in data["gt"]] == [sum(1 for a in ds.videos[v]["annotations"] if a["image_id"] == i)
                                             for v, i in frames]


def test_figures_are_deterministic_to_the_pixel(study, tmp_path):
    url, _ = study
    panels = interim_panels(cell_settings(url, "f"), clips=2)
    again = interim_panels(cell_settings(url, "f"), clips=2)
    assert figure_digest(panels) == figure_digest(again)
    pixels = []
    for p in (panels, again):
        fig = draw_interim(panels=p)
        fig.canvas.draw()
        pixels.append(np.asarray(fig.canvas.buffer_rgba()).copy())
    assert np.array_equal(pixels[0], pixels[1])
    written = save_figure(draw_interim(panels=panels), tmp_path / "a.png")
    assert [p.suffix for p in written] == [".png", ".pdf"] and all(p.stat().st_size > 0 for p in written)


def test_panels_with_other_clips_are_refused(study):
    url, _ = study
    panels = interim_panels(cell_settings(url, "f"), clips=1)
    other = {**panels[1][1], "image_id": panels[1][1]["image_id"] + 1}
    with pytest.raises(ValueError, match="must show the same clips"):
        draw_interim(panels=[panels[0], (panels[1][0], other)])


def test_zoom_box_by_hand():
    d = {"image": np.zeros((1, 64, 48, 3)), "moving": np.array([[0, 2, -1]]),
         "prev": np.array([[[10.0, 20.0], [0, 0], [30.0, 5.0]]]), "next": np.array([[[14.0, 22.0], [0, 0], [40.0, 8.0]]]),
         "synth": np.array([[[[12.0, 21.0], [0, 0], [35.0, 60.0]]]]),
         "target": np.array([[[[12.0, 21.0], [0, 0], [35.0, 6.5]]]])}
    assert zoom_box(d, 0, pad=4) == (6.0, 1.0, 44.0, 63.0)  # x 10..40, y 5..60, padded, clipped to 47 x 63
    d["moving"][0] = -1
    assert zoom_box(d, 0) == (0.0, 0.0, 47.0, 63.0)


def test_viz_commands_and_report_on_a_study(study, tmp_path, capsys):
    url, folder = study
    assert main(["viz", "interim", "f", "--storage", url, "--cells", "gamma_s=1", "--clips", "2",
                 "-o", str(tmp_path / "i.pdf")]) == 0
    assert (tmp_path / "i.png").exists() and (tmp_path / "i.pdf").exists()
    assert main(["viz", "results", "f", "--storage", url, "-o", str(tmp_path / "r.png")]) == 0
    for _ in range(2):  # a rerun replaces the uploaded figures
        assert main(["report", "f", "--storage", url, "-o", str(tmp_path / "rep")]) == 0
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "Fig. 1: synthesized interim poses, γ_s=" in text and "![fig2_results](fig2_results.png)" in text
    assert (tmp_path / "rep" / "fig1_interim.pdf").exists()
    study_ = optuna.load_study(study_name="f", storage=url)
    metas = [json.loads(v) for k, v in study_._storage.get_study_system_attrs(study_._study_id).items()
             if k.startswith("artifacts:")]
    names = [m["filename"] for m in metas if m is not None]
    assert sorted(names) == sorted(set(names)) and {"fig1_interim.png", "fig2_results.png"} <= set(names)
    on_disk = {p.name for p in (folder / "f-artifacts").iterdir()}
    assert {m["artifact_id"] for m in metas if m is not None} <= on_disk


def test_viz_from_a_tipsd_train_checkpoint(trained, tmp_path):
    folder = trained[3] / "ckpt"
    assert main(["viz", "interim", "--checkpoint", str(folder), "--clips", "1", "-o", str(tmp_path / "c.png")]) == 0
    assert main(["viz", "results", "--checkpoint", str(folder), "--frames", "1", "-o", str(tmp_path / "d.png")]) == 0
    assert (tmp_path / "c.pdf").exists() and (tmp_path / "d.pdf").exists()
