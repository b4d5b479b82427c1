"""The five TIPSD loss terms as pure functions, and their weighted sum.

Each function returns the *unweighted* term as a scalar tensor; the weights live in one place, the
gamma vector given to `total_loss` (a tensor, so that a stacked/vmapped model can train many weight
settings at once). Formulas, the published estimator each follows and why: docs/model.md.

    L = L_loc + g_s * L_s + g_info * (g_com * L_com + g_var * L_var + g_red * L_red)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

TERM_NAMES = ("L_loc", "L_s", "L_com", "L_var", "L_red")


def heatmap_mse(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Target-weighted heatmap squared error, summed over pixels, averaged over joints and samples.

    Args:
        pred, target: `(B, K, h, w)` heatmaps.
        weight: `(B, K)`, 0 for joints without a label.

    Returns:
        `sum_{b,k} weight[b,k] * sum_{y,x} (pred - target)^2 / (B * K)` (a scalar).

    Summing over pixels (rather than HRNet's mean) keeps the term O(1), the scale of the other four
    terms, whatever the heatmap size; Adam is invariant to the overall scale, not to the ratio.
    """
    per_joint = (pred.float() - target.float()).pow(2).sum((2, 3))  # (B, K)
    return (weight.float() * per_joint).sum() / weight.numel()


def localization_loss(heatmaps: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """L_loc: the key-frame heatmaps `(B, K, h, w)` against the Gaussian targets; weight `(B, K)`."""
    return heatmap_mse(heatmaps, target, weight)


def interim_synthesis_loss(
    synth: torch.Tensor, synth_target: torch.Tensor, synth_weight: torch.Tensor,
    key_heatmaps: torch.Tensor, synth_key: torch.Tensor, key_weight: torch.Tensor,
) -> torch.Tensor:
    """L_s: interim pose synthesis plus its distillation into the key-frame estimator.

    Args:
        synth: `(B, K, h, w)` synthesized heatmaps at each sample's factor alpha.
        synth_target: `(B, K, h, w)` Gaussians at the interpolated locations
            `(1 - alpha) * p(t-delta) + alpha * p(t+delta)`.
        synth_weight: `(B, K)`, nonzero only where the joint is labelled in both neighbours.
        key_heatmaps: `(B, K, h, w)` the key-frame estimate (the student).
        synth_key: `(B, K, h, w)` the synthesized pose at alpha = 0.5, the key frame's time (the
            teacher; detached here, so distillation moves the key-frame estimator only).
        key_weight: `(B, K)` where the teacher is trusted (both neighbours labelled).

    Returns:
        `heatmap_mse(synth, synth_target, synth_weight) + heatmap_mse(key_heatmaps, synth_key, key_weight)`.
    """
    synthesis = heatmap_mse(synth, synth_target, synth_weight)
    distillation = heatmap_mse(key_heatmaps, synth_key.detach(), key_weight)
    return synthesis + distillation


def complementary_infonce(z_comp: torch.Tensor, z_task: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """L_com: symmetric InfoNCE between complementary features and the task (pose) embedding.

    Args:
        z_comp: `(B, D)` complementary-branch embeddings.
        z_task: `(B, D)` embeddings of the ground-truth key-frame poses.
        temperature: tau of the softmax.

    Returns:
        With both embeddings centred over the batch (so that what every sample shares does not make
        all pairs look alike) and cosine similarities `S[i, j] = <z_comp_i, z_task_j> / (|.||.| tau)`:
        `(CE(S, diag) + CE(S^T, diag)) / 2`. Minimising it maximises a lower bound on the mutual
        information I(Z_comp; Y): `log B - L_com <= I`.
    """
    a = F.normalize(z_comp.float() - z_comp.float().mean(0), dim=-1)
    b = F.normalize(z_task.float() - z_task.float().mean(0), dim=-1)
    logits = a @ b.T / temperature  # (B, B)
    labels = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def part_variance_loss(groups: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """L_var: VICReg variance hinge on each part-group feature, keeping every dimension diverse.

    Args:
        groups: `(B, G, D)` part-group features.

    Returns:
        `mean_{g,d} relu(1 - sqrt(Var_b[groups[:, g, d]] + eps))`, Var unbiased (over the batch).
    """
    std = torch.sqrt(groups.float().var(0) + eps)  # (G, D)
    return F.relu(1.0 - std).mean()


def redundancy_loss(z_key: torch.Tensor, z_comp: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """L_red: squared cross-correlation between key-frame and complementary features.

    Args:
        z_key, z_comp: `(B, D)`.

    Returns:
        With each dimension standardised over the batch (mean 0, biased std 1),
        `C = z_key^T z_comp / B` `(D, D)` and `L_red = sum_{ij} C_ij^2 / D`. Zero when no linear
        dependence is left between the two: what the complementary branch adds is not a copy of the
        key frame (Barlow Twins' redundancy-reduction term, applied across the two views).
    """
    def standardise(z: torch.Tensor) -> torch.Tensor:
        z = z.float()
        return (z - z.mean(0)) / torch.sqrt(z.var(0, unbiased=False) + eps)

    corr = standardise(z_key).T @ standardise(z_comp) / z_key.shape[0]  # (D, D)
    return corr.pow(2).sum() / corr.shape[0]


def total_loss(terms: torch.Tensor, gammas: torch.Tensor) -> torch.Tensor:
    """Weighted sum of the five terms.

    Args:
        terms: `(5,)` unweighted values in `TERM_NAMES` order (L_loc, L_s, L_com, L_var, L_red).
        gammas: `(5,)` in `GAMMA_NAMES` order (gamma_info, gamma_s, gamma_com, gamma_var, gamma_red).

    Returns:
        `L_loc + g_s L_s + g_info (g_com L_com + g_var L_var + g_red L_red)`.
    """
    g_info, g_s, g_com, g_var, g_red = gammas.unbind(-1)
    l_loc, l_s, l_com, l_var, l_red = terms.unbind(-1)
    return l_loc + g_s * l_s + g_info * (g_com * l_com + g_var * l_var + g_red * l_red)
