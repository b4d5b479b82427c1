"""`ClipBatches` builds the same samples as `PoseTrackClips` one at a time, for a whole batch at once."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tipsd.model.data import PoseTrackClips
from tipsd.model.data.batches import ClipBatches, compose_affines, crop_affines, invert_affines
from tipsd.model.data.geometry import crop_affine

from test_data_loader import write_fixture

KEYS = ("heatmaps", "target_weight", "keypoints", "affine")


@pytest.fixture()
def clips(tmp_path):
    root = write_fixture(tmp_path / "pt18", "train")
    return PoseTrackClips(root, "train", input_size=(64, 48), sigma=2.0, cache_dir=str(tmp_path / "cache"))


def test_batched_affines_equal_crop_affine():
    center = torch.tensor([[10.0, 20.0], [55.5, 3.25]])
    ps = torch.tensor([2.0, 0.7])
    rot = torch.tensor([0.0, 33.0])
    flip = torch.tensor([False, True])
    got = crop_affines(center, ps, (64, 48), rot, flip).numpy()
    for i in range(2):
        want = crop_affine(tuple(center[i].tolist()), float(ps[i]), (64, 48), rot_deg=float(rot[i]), flip=bool(flip[i]))
        np.testing.assert_allclose(got[i], want, atol=1e-12)
    a = torch.from_numpy(got)
    ident = compose_affines(invert_affines(a), a)
    np.testing.assert_allclose(ident.numpy(), np.tile(np.array([[1.0, 0, 0], [0, 1, 0]]), (2, 1, 1)), atol=1e-12)


def test_unaugmented_batch_equals_the_samples(clips):
    batches = ClipBatches(clips)
    idx = torch.arange(len(clips))
    b = batches.batch(idx)
    assert b["frames"].shape == (len(clips), 3, 3, 64, 48)
    assert b["heatmaps"].shape == (len(clips), 3, 17, 16, 12)
    for j in range(len(clips)):
        one = clips.sample(j)
        torch.testing.assert_close(b["frames"][j], one["frames"], atol=1e-5, rtol=0)
        for key in KEYS:
            torch.testing.assert_close(b[key][j], one[key], atol=1e-5, rtol=0)
        for key in ("image_id", "video", "track_id"):
            assert int(b[key][j]) == int(one[key])


def test_augmented_batch_equals_the_samples_with_the_same_draws(clips):
    batches = ClipBatches(clips)
    idx = torch.arange(len(clips))
    gen = torch.Generator().manual_seed(5)
    state = gen.get_state()
    flip, scale, rot = batches.draw_augmentation(len(idx), gen)
    gen.set_state(state)
    b = batches.batch(idx, gen)
    assert flip.any() and (~flip).any() and (rot != 0).any()  # the draw exercises every transform
    for j in range(len(clips)):
        one = clips.sample(j, bool(flip[j]), float(scale[j]), float(rot[j]))
        for key in KEYS:  # geometry and targets: exact
            torch.testing.assert_close(b[key][j], one[key], atol=1e-4, rtol=0)
        # Pixels: torch's bilinear vs PIL's (8-bit output, its own border rule): within rounding inside.
        diff = (b["frames"][j] - one["frames"]).abs() * 0.229 * 255  # about 0-255 units
        assert float(diff.mean()) < 1.0
        assert float((diff > 2).float().mean()) < 0.05


def test_augmentation_draws_follow_the_settings(clips):
    batches = ClipBatches(clips)
    flip, scale, rot = batches.draw_augmentation(4000, torch.Generator().manual_seed(0))
    assert abs(float(flip.double().mean()) - clips.flip_prob) < 0.03
    assert float(scale.min()) >= 1 - clips.scale_factor - 1e-12 and float(scale.max()) <= 1 + clips.scale_factor + 1e-12
    assert abs(float((rot != 0).double().mean()) - 0.6) < 0.03
    assert float(rot.abs().max()) <= 1.5 * clips.rot_factor + 1e-9


def test_box_enlarge_sets_the_pixels_per_person(tmp_path):
    root = write_fixture(tmp_path / "pt18", "train")
    kw = dict(input_size=(64, 48), cache_dir=str(tmp_path / "cache"), train=False)
    wide = ClipBatches(PoseTrackClips(root, "train", box_enlarge=1.25, **kw))
    tight = ClipBatches(PoseTrackClips(root, "train", box_enlarge=1.0, **kw))
    torch.testing.assert_close(wide.pixel_size / tight.pixel_size, torch.full_like(wide.pixel_size, 1.25, dtype=torch.float64))
