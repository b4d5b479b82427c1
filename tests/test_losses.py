"""The five loss terms on tiny tensors against hand-computed values; the weighted total and its gradients."""
import math

import numpy as np
import pytest
import torch

from tipsd.model.net.losses import (
    TERM_NAMES, complementary_infonce, heatmap_mse, interim_synthesis_loss, localization_loss,
    part_variance_loss, redundancy_loss, total_loss,
)
from tipsd.model.predict import decode_heatmaps, to_image_coords
from tipsd.model.train_step import interim_targets, render_gaussians


def test_heatmap_mse_sums_pixels_and_weights_joints():
    pred = torch.tensor([[[[1.0, 0.0]], [[3.0, 3.0]]]])  # (B=1, K=2, 1, 2)
    target = torch.zeros_like(pred)
    weight = torch.tensor([[1.0, 0.0]])  # joint 1 unlabelled: its error of 18 must not count
    # (1^2 + 0^2) * 1 / (B*K = 2)
    assert heatmap_mse(pred, target, weight).item() == pytest.approx(0.5)
    assert localization_loss(pred, target, torch.ones(1, 2)).item() == pytest.approx((1 + 18) / 2)


def test_interim_synthesis_is_synthesis_plus_detached_distillation():
    synth = torch.ones(1, 1, 1, 1, requires_grad=True)
    synth_key = torch.full((1, 1, 1, 1), 2.0, requires_grad=True)
    key = torch.zeros(1, 1, 1, 1, requires_grad=True)
    w = torch.ones(1, 1)
    loss = interim_synthesis_loss(synth, torch.zeros(1, 1, 1, 1), w, key, synth_key, w)
    assert loss.item() == pytest.approx(1.0 + 4.0)  # (1-0)^2 + (0-2)^2
    loss.backward()
    assert synth_key.grad is None  # the teacher is not pulled towards the student
    assert key.grad.item() == pytest.approx(2 * (0 - 2))
    assert synth.grad.item() == pytest.approx(2.0)


def test_complementary_infonce_hand_computed():
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # Centred: (0.5, -0.5) and (-0.5, 0.5) -> cosine logits [[1, -1], [-1, 1]] / tau;
    # each row's CE = log(1 + e^{-2/tau}); both directions equal.
    assert complementary_infonce(z, z, temperature=1.0).item() == pytest.approx(math.log(1 + math.exp(-2)), rel=1e-6)
    assert complementary_infonce(z, z, temperature=0.5).item() == pytest.approx(math.log(1 + math.exp(-4)), rel=1e-5)
    # Swapped pairing: positives at cosine -1, negatives at +1.
    swapped = complementary_infonce(z, z.flip(0), temperature=1.0).item()
    assert swapped == pytest.approx(math.log(1 + math.exp(2)), rel=1e-6)
    # Invariant to a shared offset and to scale (centred cosine similarity).
    assert complementary_infonce(3 * z + 7, z, 1.0).item() == pytest.approx(math.log(1 + math.exp(-2)), rel=1e-6)
    # Four samples, tau = 1: centred one-hot rows have cosine 1 with themselves, -1/3 with others.
    eye = torch.eye(4)
    expected = -math.log(math.e / (math.e + 3 * math.exp(-1 / 3)))
    assert complementary_infonce(eye, eye, 1.0).item() == pytest.approx(expected, rel=1e-6)


def test_part_variance_hinge_hand_computed():
    groups = torch.tensor([[[0.0, 0.0]], [[2.0, 0.0]]])  # (B=2, G=1, D=2)
    # dim 0: unbiased var 2 -> std 1.414 > 1 -> 0; dim 1: var 0 -> 1 - sqrt(1e-4) = 0.99
    assert part_variance_loss(groups).item() == pytest.approx((0 + 0.99) / 2, rel=1e-6)


def test_redundancy_hand_computed():
    z_key = torch.tensor([[0.0, 5.0], [2.0, 1.0]])  # standardised: d0 (-1, 1), d1 (1, -1)
    z_comp = torch.tensor([[1.0, 0.0], [3.0, 0.0]])  # d0 (-1, 1), d1 constant -> 0
    # C = [[1, 0], [-1, 0]] -> sum C^2 / D = 2 / 2
    assert redundancy_loss(z_key, z_comp).item() == pytest.approx(1.0, rel=1e-4)
    independent = torch.tensor([[1.0], [-1.0], [1.0], [-1.0]])
    other = torch.tensor([[1.0], [1.0], [-1.0], [-1.0]])
    assert redundancy_loss(independent, other).item() == pytest.approx(0.0, abs=1e-6)


def test_total_loss_formula():
    terms = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])  # L_loc, L_s, L_com, L_var, L_red
    gammas = torch.tensor([2.0, 0.5, 1.0, 0.0, 3.0])  # info, s, com, var, red
    # 1 + 0.5*2 + 2*(1*3 + 0*4 + 3*5)
    assert total_loss(terms, gammas).item() == pytest.approx(38.0)
    assert TERM_NAMES == ("L_loc", "L_s", "L_com", "L_var", "L_red")


# gamma index -> the term indices whose gradient it must switch off
_GAMMA_OFF = {0: (2, 3, 4), 1: (1,), 2: (2,), 3: (3,), 4: (4,)}


@pytest.mark.parametrize("gamma_index", range(5))
def test_zero_gamma_removes_that_terms_gradient(gamma_index):
    terms = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0], requires_grad=True)
    gammas = torch.ones(5)
    gammas[gamma_index] = 0.0
    total_loss(terms, gammas).backward()
    for t in range(5):
        expected_zero = t in _GAMMA_OFF[gamma_index]
        assert (terms.grad[t].item() == 0.0) == expected_zero, (gamma_index, t, terms.grad)


def test_interim_targets_lie_on_the_line_between_neighbours():
    kpts = torch.zeros(1, 3, 1, 3)
    kpts[0, 0, 0] = torch.tensor([0.0, 0.0, 1.0])  # t - delta at input (0, 0)
    kpts[0, 2, 0] = torch.tensor([16.0, 32.0, 1.0])  # t + delta at input (16, 32)
    weight = torch.tensor([[[1.0], [0.0], [1.0]]])  # key frame unlabelled: irrelevant here
    hm, w = interim_targets(kpts, weight, torch.tensor([0.25]), (12, 8), sigma=1.5)
    # 0.75*(0,0) + 0.25*(16,32) = (4, 8) input px -> heatmap (x=1, y=2)
    peak = divmod(int(hm[0, 0].argmax()), 8)
    assert peak == (2, 1) and hm[0, 0, 2, 1].item() == pytest.approx(1.0)
    assert w.tolist() == [[1.0]]
    _, w0 = interim_targets(kpts, torch.tensor([[[1.0], [1.0], [0.0]]]), torch.tensor([0.5]), (12, 8), 1.5)
    assert w0.tolist() == [[0.0]]  # a joint missing in one neighbour has no interim target


def test_render_gaussians_matches_the_data_layer():
    geometry = pytest.importorskip("tipsd.model.data.geometry")
    kp = np.array([[10.0, 6.0, 1.0], [3.3, 20.7, 1.0]], dtype=np.float32)
    ref, _ = geometry.gaussian_heatmaps(kp, (8, 6), 1.5)
    ours = render_gaussians(torch.from_numpy(kp[None, :, :2]).double(), (8, 6), 1.5)[0]
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-6)


def test_decode_and_map_back_to_image():
    hm = torch.zeros(1, 1, 5, 6)
    hm[0, 0, 2, 3] = 1.0
    hm[0, 0, 2, 4] = 0.5  # right neighbour higher -> +0.25 in x
    hm[0, 0, 1, 3] = 0.2  # upper neighbour higher -> -0.25 in y
    xy, val = decode_heatmaps(hm)
    assert xy.tolist() == [[[3.25, 1.75]]] and val.item() == 1.0
    affine = torch.tensor([[[2.0, 0.0, 10.0], [0.0, 2.0, 20.0]]])  # crop -> image: scale 2, shift
    # heatmap (3.25, 1.75) -> input (13, 7) -> image (36, 34)
    assert to_image_coords(xy, affine).tolist() == [[[36.0, 34.0]]]
