"""The network: shapes, gradients reach every parameter, gamma = 0 cuts the right modules, vmap."""
import pytest
import torch

from tipsd.model.net import HRBackbone, SingleFrameNet, TIPSDNet, total_loss
from tipsd.model.train_step import loss_terms

B, H, W, K = 4, 64, 48, 17


def _batch(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    kpts = torch.rand(B, 3, K, 3, generator=g) * torch.tensor([W, H, 1.0])
    kpts[..., 2] = 1.0
    return {
        "frames": torch.randn(B, 3, 3, H, W, generator=g),
        "heatmaps": torch.rand(B, 3, K, H // 4, W // 4, generator=g),
        "target_weight": torch.ones(B, 3, K),
        "keypoints": kpts,
    }


@pytest.mark.parametrize("widths", [(8,), (8, 16), (8, 16, 16)])
def test_backbone_output_is_stride_4(widths):
    out = HRBackbone(widths, blocks=1)(torch.randn(2, 3, H, W))
    assert out.shape == (2, widths[0], H // 4, W // 4)


@pytest.mark.parametrize("stride", [4, 2, 1])
def test_heatmap_stride_sets_both_heatmap_outputs(stride):
    torch.manual_seed(0)
    net = TIPSDNet((8, 16), blocks=1, feat_dim=16, heatmap_stride=stride)
    batch = _batch()
    batch["heatmaps"] = torch.rand(B, 3, K, H // stride, W // stride)
    out = net(batch["frames"])
    assert out.heatmaps.shape == out.synth_key.shape == (B, K, H // stride, W // stride)
    terms, _ = loss_terms(net, batch, torch.rand(B), 1.5)
    total_loss(terms, torch.ones(5)).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_forward_shapes_and_finite():
    torch.manual_seed(0)
    net = TIPSDNet((8, 16), blocks=1, feat_dim=16)
    out = net(_batch()["frames"])
    assert out.heatmaps.shape == (B, K, H // 4, W // 4)
    assert out.groups.shape == (B, 3, 16)
    assert out.z_key.shape == out.z_comp.shape == (B, 16)
    assert net.synthesize(out.feats_prev, out.feats_next, torch.full((B,), 0.3)).shape == (B, K, H // 4, W // 4)
    assert SingleFrameNet((8, 16))(torch.randn(B, 3, H, W)).shape == (B, K, H // 4, W // 4)
    terms, _ = loss_terms(net, _batch(), torch.rand(B), 1.5)
    assert terms.shape == (5,) and torch.isfinite(terms).all()


def _grads(gammas: torch.Tensor) -> dict[str, torch.Tensor | None]:
    torch.manual_seed(0)
    net = TIPSDNet((8, 16), blocks=1, feat_dim=16)
    terms, _ = loss_terms(net, _batch(), torch.rand(B, generator=torch.Generator().manual_seed(1)), 1.5)
    total_loss(terms, gammas).backward()
    return {n: p.grad for n, p in net.named_parameters()}


def test_every_parameter_receives_a_finite_gradient():
    grads = _grads(torch.ones(5))
    missing = [n for n, g in grads.items() if g is None or g.abs().sum() == 0]
    assert missing == []
    assert all(torch.isfinite(g).all() for g in grads.values())


@pytest.mark.parametrize(
    "gamma_index, module",
    [(2, "label_encoder."), (3, "group_proj."), (0, "label_encoder."), (0, "group_proj.")],
)
def test_zero_gamma_cuts_the_modules_only_its_terms_train(gamma_index, module):
    gammas = torch.ones(5)
    gammas[gamma_index] = 0.0
    grads = _grads(gammas)
    own = {n: g for n, g in grads.items() if n.startswith(module)}
    assert own and all(g is None or g.abs().sum() == 0 for g in own.values())
    assert grads["head.out.weight"].abs().sum() > 0  # L_loc still trains the estimator


def test_interim_pose_feeds_the_key_frame_estimate():
    """With gamma_s = 0 the synthesizer is still trained, end to end through L_loc (it is an input of
    the fusion); gamma_s > 0 adds its own supervision from the neighbours' labels."""
    gammas = torch.ones(5)
    gammas[1] = 0.0
    grads = _grads(gammas)
    assert all(g is not None and g.abs().sum() > 0 for n, g in grads.items() if n.startswith("synth."))


def test_all_gammas_zero_equals_plain_localisation_gradient():
    g0 = _grads(torch.zeros(5))
    torch.manual_seed(0)
    net = TIPSDNet((8, 16), blocks=1, feat_dim=16)
    terms, _ = loss_terms(net, _batch(), torch.rand(B, generator=torch.Generator().manual_seed(1)), 1.5)
    terms[0].backward()
    for n, p in net.named_parameters():
        ref = p.grad if p.grad is not None else torch.zeros_like(p)
        got = g0[n] if g0[n] is not None else torch.zeros_like(p)
        torch.testing.assert_close(got, ref)


def test_network_runs_under_vmap_over_stacked_parameters():
    # The next issue trains many gamma settings as one stacked model: the forward must vmap.
    from torch.func import functional_call, stack_module_state, vmap

    nets = [TIPSDNet((8,), blocks=1, feat_dim=8) for _ in range(2)]
    params, buffers = stack_module_state(nets)
    frames = _batch()["frames"][:2]

    def run(p, b):
        return functional_call(nets[0], (p, b), (frames,)).heatmaps

    out = vmap(run)(params, buffers)  # (2 models, B, K, h, w)
    assert out.shape == (2, 2, K, H // 4, W // 4)
    torch.testing.assert_close(out[1], nets[1](frames).heatmaps, rtol=1e-4, atol=1e-4)
