"""One training step's arithmetic: targets for the interim pose, the five loss terms of a batch.

Kept apart from the loop in `tipsd.model.train` so that tests (and a later stacked/vmapped trainer)
can call `loss_terms` directly.
"""
from __future__ import annotations

import torch

from tipsd.model.data.keypoints import STRIDE  # heatmap pixel (j, i) <-> input-crop pixel (4j, 4i)
from tipsd.model.net.losses import (
    complementary_infonce, interim_synthesis_loss, localization_loss, part_variance_loss,
    redundancy_loss,
)
from tipsd.model.net.tipsd_net import NetOutput, TIPSDNet


def render_gaussians(xy: torch.Tensor, size: tuple[int, int], sigma: float, stride: int = STRIDE) -> torch.Tensor:
    """Unnormalised Gaussians (peak 1) at keypoints `xy` `(B, K, 2)` given in input-crop pixels.

    Returns `(B, K, h, w)` with `size = (h, w)` the heatmap size and `sigma` in heatmap pixels.
    """
    h, w = size
    centre = xy / stride  # (B, K, 2) in heatmap pixels
    ys = torch.arange(h, dtype=xy.dtype, device=xy.device).view(1, 1, h, 1)
    xs = torch.arange(w, dtype=xy.dtype, device=xy.device).view(1, 1, 1, w)
    d2 = (xs - centre[..., 0, None, None]) ** 2 + (ys - centre[..., 1, None, None]) ** 2
    return torch.exp(-d2 / (2 * sigma**2))


def interim_targets(
    keypoints: torch.Tensor, target_weight: torch.Tensor, alpha: torch.Tensor,
    size: tuple[int, int], sigma: float, stride: int = STRIDE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets of the interim pose: parts on the line from their t-delta to their t+delta location.

    Args:
        keypoints: `(B, 3, K, 3)` x, y (input pixels), visibility for t-delta, t, t+delta.
        target_weight: `(B, 3, K)`.
        alpha: `(B,)` interpolation factors in [0, 1].
        size: heatmap (h, w). sigma: Gaussian std in heatmap pixels. stride: input pixels per heatmap pixel.

    Returns:
        heatmaps `(B, K, h, w)` at `(1 - alpha) p_prev + alpha p_next`, and weights `(B, K)`, nonzero
        only where the joint is labelled in both neighbour frames.
    """
    a = alpha.view(-1, 1, 1).to(keypoints.dtype)
    xy = (1 - a) * keypoints[:, 0, :, :2] + a * keypoints[:, 2, :, :2]  # (B, K, 2)
    weight = target_weight[:, 0] * target_weight[:, 2]  # (B, K)
    return render_gaussians(xy, size, sigma, stride), weight


def loss_terms(
    net: TIPSDNet, batch: dict[str, torch.Tensor], alpha: torch.Tensor, sigma: float,
) -> tuple[torch.Tensor, NetOutput]:
    """The five unweighted loss terms of one batch.

    Args:
        net: the network.
        batch: a collated `PoseTrackClips` batch (frames `(B, 3, 3, H, W)`, heatmaps `(B, 3, K, h, w)`,
            target_weight `(B, 3, K)`, keypoints `(B, 3, K, 3)`), already on the device.
        alpha: `(B,)` interpolation factors for the synthesis term.
        sigma: Gaussian std of the interim targets (heatmap pixels), as the data layer's.

    Returns:
        terms `(5,)` float32 in `TERM_NAMES` order, and the network output.
    """
    frames = batch["frames"]
    size_in = tuple(frames.shape[-2:])
    out = net(frames)
    hm_size = tuple(out.heatmaps.shape[-2:])
    key_target, key_weight = batch["heatmaps"][:, 1], batch["target_weight"][:, 1]  # (B, K, h, w), (B, K)
    l_loc = localization_loss(out.heatmaps, key_target, key_weight)

    # Synthesis at a random alpha (teaches the synthesizer the whole interval); the forward pass
    # already synthesized alpha = 0.5, the key frame's time, whose output is distilled into the
    # key-frame estimator (and feeds its fusion).
    stride = size_in[0] // hm_size[0]  # input pixels per heatmap pixel
    synth_target, synth_weight = interim_targets(batch["keypoints"], batch["target_weight"], alpha, hm_size,
                                                 sigma, stride)
    synth = net.synthesize(out.feats_prev, out.feats_next, alpha)  # (B, K, h, w)
    synth_key = out.synth_key
    l_s = interim_synthesis_loss(synth, synth_target, synth_weight, out.heatmaps, synth_key, synth_weight)

    key_kpts = batch["keypoints"][:, 1]  # (B, K, 3)
    z_task = net.encode_labels(key_kpts[..., :2], key_weight, size_in)  # (B, D)
    l_com = complementary_infonce(out.z_comp, z_task)
    l_var = part_variance_loss(out.groups)
    l_red = redundancy_loss(out.z_key, out.z_comp)
    return torch.stack([l_loc, l_s, l_com, l_var, l_red]).float(), out


def init_grad_scales(net: TIPSDNet, terms: torch.Tensor) -> torch.Tensor:
    """Fixed loss-balance factors from one batch: ``c_k = |grad L_loc| / |grad L_k|`` on the backbone.

    Args:
        net: the network, its graph still holding `terms`.
        terms: `(5,)` unweighted terms in `TERM_NAMES` order, from `loss_terms` on the first batch.

    Returns:
        `(5,)` float32 factors, ``c_0 = 1`` for L_loc; a term whose backbone gradient is zero (or not
        finite) keeps factor 1. Gradient norms are L2 norms over all backbone parameters.

    The factors equalise each term's pull on the shared features at initialisation, the idea of
    GradNorm (Chen et al., ICML 2018) without its online updates: computed once and then fixed, so the
    objective does not drift and a run stays a function of its config. Without them, on the `quick`
    preset the InfoNCE terms' backbone gradients are 40-65 times L_loc's at step 0 (docs/model.md).
    """
    params = [p for p in net.backbone.parameters() if p.requires_grad]
    norms = []
    for k in range(terms.numel()):
        grads = torch.autograd.grad(terms[k], params, retain_graph=True, allow_unused=True)
        sq = sum((g.float().pow(2).sum() for g in grads if g is not None), torch.zeros((), device=terms.device))
        norms.append(sq.sqrt())
    norms = torch.stack(norms)  # (5,)
    scales = norms[0] / norms
    ok = torch.isfinite(scales) & (norms > 0)
    return torch.where(ok, scales, torch.ones_like(scales)).detach().float()
