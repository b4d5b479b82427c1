"""train(): learns on `tiny`, deterministic per seed, resumable, stops on divergence, device choice."""
import json
import math

import pytest
import torch

from tipsd.model.config import GAMMA_NAMES, make_config
from tipsd.model.errors import ConfigError, DivergenceError
from tipsd.model.train import METRIC_KEYS, TrainResult, select_device, train, validate


@pytest.fixture(scope="module")
def tiny_result() -> TrainResult:
    return train(make_config("tiny"))


def test_tiny_run_learns_well_above_the_untrained_network(tiny_result):
    from tipsd.model.data import PoseTrackClips, load_split, resolve_dataset
    from tipsd.model.net import TIPSDNet
    from torch.utils.data import DataLoader

    cfg = make_config("tiny")
    root = resolve_dataset(cfg.data, cfg.cache_dir)
    val = PoseTrackClips(root, "val", input_size=(cfg.input_height, cfg.input_width), train=False)
    torch.manual_seed(cfg.seed)
    untrained = validate(TIPSDNet(cfg.widths, cfg.blocks, cfg.feat_dim), DataLoader(val, batch_size=16),
                         load_split(root, "val"), torch.device("cpu"), amp=False)
    assert untrained["Total"] < 1.0
    assert tiny_result.metrics["Total"] > untrained["Total"] + 2.0
    assert tiny_result.history[-1]["train_loss"] < tiny_result.history[0]["train_loss"]


def test_result_has_every_contract_field(tiny_result):
    d = tiny_result.to_dict()
    assert set(d["metrics"]) == set(METRIC_KEYS)
    assert len(d["joint_ap"]) == 15 and "left_ear" not in d["joint_ap"]
    assert list(d["losses"]) == ["L_loc", "L_s", "L_com", "L_var", "L_red", "total"]
    assert all(v == v and abs(v) < float("inf") for v in d["losses"].values())
    assert [h["epoch"] for h in d["history"]] == list(range(make_config("tiny").epochs))
    assert d["device"] == "cpu" and d["frames_per_s"] > 0 and d["peak_mem_mb"] > 10
    assert d["config"]["preset"] == "tiny" and all(k in d["config"] for k in GAMMA_NAMES)
    json.dumps(d)  # serialisable as is


def test_total_is_the_weighted_sum_of_the_logged_terms(tiny_result):
    l, c = tiny_result.losses, make_config("tiny")
    expected = l["L_loc"] + c.gamma_s * l["L_s"] + c.gamma_info * (
        c.gamma_com * l["L_com"] + c.gamma_var * l["L_var"] + c.gamma_red * l["L_red"])
    assert l["total"] == pytest.approx(expected, rel=1e-5)


def test_same_seed_same_metrics_and_other_seed_differs():
    cfg = make_config("tiny", {"epochs": 2})
    a, b = train(cfg), train(cfg)
    assert a.metrics == b.metrics and a.losses == b.losses
    c = train(make_config("tiny", {"epochs": 2, "seed": 1}))
    assert c.losses != a.losses


def test_resume_continues_to_the_uninterrupted_result(tmp_path):
    cfg = make_config("tiny", {"epochs": 3})
    full = train(cfg)

    class Stop(Exception):
        pass

    def stop_after_first(epoch, value):
        if epoch == 0:
            raise Stop

    with pytest.raises(Stop):  # the callback's exception propagates (as optuna.TrialPruned would)
        train(cfg, checkpoint_dir=tmp_path, on_epoch=stop_after_first)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["epochs"] == 3 and saved["widths"] == list(cfg.widths)
    seen = []
    resumed = train(cfg, checkpoint_dir=tmp_path, resume=True, on_epoch=lambda e, v: seen.append(e))
    assert seen == [1, 2]
    assert resumed.metrics == full.metrics and resumed.losses == full.losses
    assert [h["Total"] for h in resumed.history] == [h["Total"] for h in full.history]


def test_resume_refuses_a_checkpoint_of_another_config(tmp_path):
    train(make_config("tiny", {"epochs": 1}), checkpoint_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"trained with epochs=1, not 2"):
        train(make_config("tiny", {"epochs": 2}), checkpoint_dir=tmp_path, resume=True)


@pytest.mark.parametrize("term", ["L_com", "total"])
def test_non_finite_loss_raises_divergence_naming_step_and_term(term):
    cfg = make_config("tiny", {"epochs": 1, "debug_nan_term": term, "debug_nan_step": 2})
    with pytest.raises(DivergenceError, match=rf"training diverged at step 2: loss term {term} is nan") as info:
        train(cfg)
    assert (info.value.step, info.value.term) == (2, term) and info.value.exit_code == 1


def test_device_selection_and_clean_cuda_fallback():
    assert select_device("auto", cuda_available=False) == torch.device("cpu")
    assert select_device("auto", cuda_available=True) == torch.device("cuda")
    assert select_device("cpu", cuda_available=True) == torch.device("cpu")
    with pytest.raises(ConfigError, match=r"device: 'cuda' requested but CUDA is not available"):
        select_device("cuda", cuda_available=False)


def test_on_epoch_gets_each_validation_metrics():
    got = []
    result = train(make_config("tiny", {"epochs": 2}), on_epoch=lambda e, m: got.append((e, m)))
    assert [(e, m["Total"]) for e, m in got] == [(h["epoch"], h["Total"]) for h in result.history]
    assert got[-1][1] == result.metrics and tuple(got[0][1]) == METRIC_KEYS


def test_val_every_zero_validates_once_and_trains_the_same_weights():
    got = []
    every = train(make_config("tiny", {"epochs": 2, "val_every": 1}))
    once = train(make_config("tiny", {"epochs": 2, "val_every": 0}), on_epoch=lambda e, m: got.append(e))
    assert got == [1]  # only the last epoch has an intermediate value
    assert math.isnan(once.history[0]["Total"]) and once.history[1]["Total"] == every.history[1]["Total"]
    assert once.metrics == every.metrics  # validation never changes what is trained


def test_ema_averages_the_weights_with_timm_warmup():
    from tipsd.model.train import _EMA

    net = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.constant_(net.weight, 1.0)
    ema = _EMA(net, 0.9)
    torch.nn.init.constant_(net.weight, 3.0)
    ema.update(net, step=0)  # decay min(0.9, 1/10) = 0.1: 0.1 * 1 + 0.9 * 3
    assert float(ema.model.weight) == pytest.approx(2.8)
    ema.update(net, step=1000)  # decay 0.9: 0.9 * 2.8 + 0.1 * 3
    assert float(ema.model.weight) == pytest.approx(2.82)
    assert not ema.model.weight.requires_grad


class _OracleNet(torch.nn.Module):
    """Returns the dataset's own key-frame target heatmaps, batch after batch (an unshuffled loader)."""

    def __init__(self, dataset, batch_size):
        super().__init__()
        self.targets = [dataset[i]["heatmaps"][1] for i in range(len(dataset))]
        self.batch_size, self.pos = batch_size, 0

    def forward(self, frames):
        from types import SimpleNamespace

        n = frames.shape[0]
        hm = torch.stack(self.targets[self.pos:self.pos + n])
        self.pos += n
        return SimpleNamespace(heatmaps=hm)


def test_validate_keeps_videos_apart_when_image_ids_repeat_across_videos(tmp_path):
    """Per-video image ids (0, 1, ... in every video) are PoseTrack18-format-valid: predictions must
    still be scored against their own video, so perfect heatmaps give a perfect score."""
    from tipsd.model.data import PoseTrackClips, load_split
    from torch.utils.data import DataLoader
    from test_data_loader import write_fixture

    root = write_fixture(tmp_path / "pt18")
    ann_dir = root / "annotations" / "val"
    doc = json.loads((ann_dir / "000001_fixture.json").read_text())
    for ann in doc["annotations"]:  # the second video: same image ids, people moved 3 px down
        ann["keypoints"] = [v + 3 if i % 3 == 1 and ann["keypoints"][i + 1] > 0 else v
                            for i, v in enumerate(ann["keypoints"])]
    (ann_dir / "000002_fixture.json").write_text(json.dumps(doc))
    val = PoseTrackClips(root, "val", input_size=(64, 48), train=False, cache_dir=str(tmp_path / "c"))
    assert len(val) == 14
    net = _OracleNet(val, 4)
    metrics = validate(net, DataLoader(val, batch_size=4), load_split(root, "val"), torch.device("cpu"), amp=False)
    assert metrics["Total"] == pytest.approx(100.0)


def test_init_grad_scales_are_the_ratios_of_backbone_gradient_norms():
    from tipsd.model.data import PoseTrackClips, resolve_dataset
    from tipsd.model.data.batches import ClipBatches
    from tipsd.model.net.tipsd_net import TIPSDNet
    from tipsd.model.train_step import init_grad_scales, loss_terms

    cfg = make_config("tiny")
    torch.manual_seed(0)
    clips = PoseTrackClips(resolve_dataset(cfg.data, cfg.cache_dir), "train", input_size=(64, 48), sigma=cfg.sigma)
    batch = ClipBatches(clips, torch.device("cpu")).batch(torch.arange(4))
    net = TIPSDNet(cfg.widths, cfg.blocks, cfg.feat_dim)
    terms, _ = loss_terms(net, batch, torch.full((4,), 0.5), cfg.sigma)
    l_loc = terms[0]
    # Multiples of L_loc have gradients of known norm: |grad (a L_loc)| = a |grad L_loc|, so c = 1 / a.
    # A constant has no backbone gradient and keeps factor 1.
    built = torch.stack([l_loc, 2 * l_loc, 0.25 * l_loc, l_loc.detach() + 3.0, 10 * l_loc])
    scales = init_grad_scales(net, built)
    assert scales.shape == (5,) and scales.dtype == torch.float32
    assert scales.tolist() == pytest.approx([1.0, 0.5, 4.0, 1.0, 0.1], rel=1e-5)


def test_loss_balance_init_grad_scales_the_information_terms_and_survives_resume(tmp_path):
    cfg = make_config("tiny", {"epochs": 2, "loss_balance": "init_grad"})
    full = train(cfg)
    s, l = full.loss_scales, full.losses
    assert s["L_loc"] == 1.0 and s["L_com"] < 0.5 and all(v > 0 for v in s.values())
    expected = l["L_loc"] + cfg.gamma_s * s["L_s"] * l["L_s"] + cfg.gamma_info * (
        cfg.gamma_com * s["L_com"] * l["L_com"] + cfg.gamma_var * s["L_var"] * l["L_var"]
        + cfg.gamma_red * s["L_red"] * l["L_red"])
    assert l["total"] == pytest.approx(expected, rel=1e-4)
    assert train(make_config("tiny", {"epochs": 2})).loss_scales == dict.fromkeys(s, 1.0)

    def stop(epoch, value):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, checkpoint_dir=tmp_path, on_epoch=stop)
    resumed = train(cfg, checkpoint_dir=tmp_path, resume=True)
    assert resumed.loss_scales == s and resumed.metrics == full.metrics


def test_init_seed_fixes_the_initial_weights_and_seed_still_orders_the_data(monkeypatch):
    import tipsd.model.member as member_mod  # where train() builds its network

    made = []

    class Recording(member_mod.TIPSDNet):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append({k: v.clone() for k, v in self.state_dict().items()})

    monkeypatch.setattr(member_mod, "TIPSDNet", Recording)
    a = train(make_config("tiny", {"epochs": 1, "seed": 0, "init_seed": 7}))
    b = train(make_config("tiny", {"epochs": 1, "seed": 1, "init_seed": 7}))
    c = train(make_config("tiny", {"epochs": 1, "seed": 1}))
    assert all(torch.equal(made[0][k], made[1][k]) for k in made[0])
    assert not all(torch.equal(made[1][k], made[2][k]) for k in made[1])
    assert a.losses != b.losses  # same start, another data order
