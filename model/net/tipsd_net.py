"""The TIPSD-style video pose estimator: shared backbone, complementary branch, interim synthesizer.

One forward pass over a clip of three aligned crops (t-delta, t, t+delta):

    frames (B, 3, 3, H, W) --backbone (shared)--> feats (B, 3, C, h, w)       h, w = H/4, W/4
    F_prev, F_key, F_next = feats[:, 0], feats[:, 1], feats[:, 2]
    Z_c   = complementary(F_prev, F_next)             (B, C, h, w)  what the neighbours add
    S_key = synthesize(F_prev, F_next, 0.5)           (B, K, h, w)  interim pose at the key frame's time
    F_fus = fuse(F_key, Z_c, S_key)                   (B, C, h, w)
    heatmaps = head(F_fus)                            (B, K, h, w)  the key-frame estimate
    groups   = part-group features of F_fus           (B, 3, D)     head, arms, legs
    z_key, z_comp = pooled embeddings of F_key, Z_c   (B, D)
    synthesize(F_prev, F_next, alpha) -> (B, K, h, w) the interim pose at t-delta + alpha*2*delta
    (the interim pose at alpha = 0.5 is computed in every forward pass and is an input of `fuse`)

The loss weights are not part of the network: every module is used the same way whatever the five
gamma are, so many weight settings can share one architecture (and one stacked, vmapped model).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tipsd.model.net.backbone import HRBackbone, ResidualBlock, group_norm

NUM_JOINTS = 17
EMBED_GRID = 4  # key/complementary embeddings pool the (h, w) map to this many cells per side
# PoseTrack18 keypoint slots of each part group (head incl. the never-labelled ears; arms incl.
# shoulders; legs incl. hips).
PART_GROUPS: dict[str, tuple[int, ...]] = {
    "head": (0, 1, 2, 3, 4),
    "arms": (5, 6, 7, 8, 9, 10),
    "legs": (11, 12, 13, 14, 15, 16),
}


@dataclass
class NetOutput:
    """What `TIPSDNet.forward` returns (shapes with B clips, K joints, D = feat_dim)."""

    heatmaps: torch.Tensor  # (B, K, h, w) key-frame estimate (from the fused features)
    groups: torch.Tensor  # (B, G=3, D) part-group features
    z_key: torch.Tensor  # (B, D) key-frame embedding
    z_comp: torch.Tensor  # (B, D) complementary embedding
    feats_prev: torch.Tensor  # (B, C, h, w) backbone features of t-delta (for the synthesizer)
    feats_next: torch.Tensor  # (B, C, h, w) backbone features of t+delta
    synth_key: torch.Tensor  # (B, K, h, w) interim pose synthesized at the key frame's time (alpha = 0.5)


def _conv1x1_norm(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), group_norm(c_out))


class HeatmapHead(nn.Module):
    """Features `(B, C, h, w)` at stride 4 -> heatmaps `(B, K, 4h/s, 4w/s)` at stride `s` in (4, 2, 1).

    Stride 4 is HRNet's 1x1 conv; finer strides first upsample with 4x4 stride-2 transposed
    convolutions (+ GroupNorm + ReLU), as SimpleBaseline's deconvolution head does, so that the
    heatmap has pixels finer than the PCKh threshold of a small input crop.
    """

    def __init__(self, c_in: int, num_joints: int, stride: int = 4):
        super().__init__()
        if stride not in (1, 2, 4):
            raise ValueError(f"heatmap stride {stride!r} must be 4, 2 or 1")
        ups = []
        for _ in range({4: 0, 2: 1, 1: 2}[stride]):
            ups += [nn.ConvTranspose2d(c_in, c_in, 4, stride=2, padding=1, bias=False), group_norm(c_in), nn.ReLU()]
        self.upsample = nn.Sequential(*ups)
        self.out = nn.Conv2d(c_in, num_joints, 1)
        # Heatmap outputs start near zero (HRNet's final-layer init): a random-scale start makes the
        # first steps fit the output scale instead of the peaks.
        nn.init.normal_(self.out.weight, std=1e-3)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.upsample(x))


class TIPSDNet(nn.Module):
    """Three-frame pose estimator with the modules the five TIPSD loss terms act on.

    Args:
        widths: backbone branch widths (see `HRBackbone`).
        blocks: residual blocks per branch per stage.
        feat_dim: D, the dimension of the part-group, key and complementary embeddings.
        num_joints: K.
        heatmap_stride: input pixels per heatmap pixel of both heatmap outputs (4, 2 or 1).
    """

    def __init__(self, widths: tuple[int, ...], blocks: int = 1, feat_dim: int = 32,
                 num_joints: int = NUM_JOINTS, heatmap_stride: int = 4):
        super().__init__()
        self.num_joints = num_joints
        self.heatmap_stride = heatmap_stride
        self.backbone = HRBackbone(widths, blocks)
        c = self.backbone.out_channels
        # Complementary branch: what t-delta and t+delta say about the key frame.
        self.complementary = nn.Sequential(
            nn.Conv2d(2 * c, c, 3, padding=1, bias=False), group_norm(c), nn.ReLU(), ResidualBlock(c)
        )
        # The fusion reads the key features, the complementary features and the interim pose
        # synthesized from the neighbours at the key frame's time (K heatmap channels): the estimate
        # the key-frame head can fall back on when the key frame itself is blurred or occluded.
        self.fuse = _conv1x1_norm(2 * c + num_joints, c)
        self.fuse_block = ResidualBlock(c)
        self.head = HeatmapHead(c, num_joints, heatmap_stride)
        # Interim synthesizer: neighbour features + the interpolation factor as a constant plane.
        self.synth = nn.Sequential(
            nn.Conv2d(2 * c + 1, c, 3, padding=1, bias=False), group_norm(c), nn.ReLU(), ResidualBlock(c),
            HeatmapHead(c, num_joints, heatmap_stride),
        )
        # Embeddings for the information-theoretic terms.
        self.group_proj = nn.ModuleList(nn.Linear(c, feat_dim) for _ in PART_GROUPS)
        # Key / complementary embeddings read a coarse 4x4 grid, not a global mean: where the parts
        # are is what identifies a pose (a global mean is nearly the same for every crop).
        self.key_proj = nn.Linear(c * EMBED_GRID**2, feat_dim)
        self.comp_proj = nn.Linear(c * EMBED_GRID**2, feat_dim)
        # Encodes the ground-truth key-frame pose (the task variable Y of L_com); training only.
        self.label_encoder = nn.Sequential(
            nn.Linear(3 * num_joints, 2 * feat_dim), nn.ReLU(), nn.Linear(2 * feat_dim, feat_dim)
        )
        self._group_index = [list(idx) for idx in PART_GROUPS.values()]

    def forward(self, frames: torch.Tensor) -> NetOutput:
        """Run the estimator on `frames` (B, 3, 3, H, W): frame order t-delta, t, t+delta."""
        b, t = frames.shape[:2]
        feats = self.backbone(frames.flatten(0, 1))  # (B*3, C, h, w)
        feats = feats.unflatten(0, (b, t))  # (B, 3, C, h, w)
        f_prev, f_key, f_next = feats[:, 0], feats[:, 1], feats[:, 2]
        z_c = self.complementary(torch.cat([f_prev, f_next], 1))  # (B, C, h, w)
        synth_key = self.synthesize(f_prev, f_next, f_key.new_full((b,), 0.5))  # (B, K, H/s, W/s)
        synth_in = synth_key if self.heatmap_stride == 4 else F.avg_pool2d(synth_key, 4 // self.heatmap_stride)
        fused = F.relu(f_key + self.fuse(torch.cat([f_key, z_c, synth_in], 1)))  # synth at stride 4
        fused = self.fuse_block(fused)  # (B, C, h, w)
        heatmaps = self.head(fused)  # (B, K, H/s, W/s)

        # Part-group features: attention-pool the fused map with each joint's predicted heatmap
        # (softmax over space, at the features' stride 4), then average the joints of a group.
        pooled = heatmaps if self.heatmap_stride == 4 else F.avg_pool2d(heatmaps, 4 // self.heatmap_stride)
        attn = pooled.flatten(2).softmax(-1)  # (B, K, h*w)
        joint_feats = attn @ fused.flatten(2).transpose(1, 2)  # (B, K, C)
        groups = torch.stack(
            [proj(joint_feats[:, idx].mean(1)) for proj, idx in zip(self.group_proj, self._group_index)], 1
        )  # (B, 3, D)
        z_key = self.key_proj(F.adaptive_avg_pool2d(f_key, EMBED_GRID).flatten(1))  # (B, C*16) -> (B, D)
        z_comp = self.comp_proj(F.adaptive_avg_pool2d(z_c, EMBED_GRID).flatten(1))  # (B, D)
        return NetOutput(heatmaps, groups, z_key, z_comp, f_prev, f_next, synth_key)

    def synthesize(self, feats_prev: torch.Tensor, feats_next: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        """Heatmaps of the interim pose at factor `alpha` (B,) in [0, 1] between t-delta and t+delta.

        Returns `(B, K, h, w)`; alpha = 0.5 is the key frame's time.
        """
        plane = alpha.view(-1, 1, 1, 1).expand(-1, 1, *feats_prev.shape[-2:])  # (B, 1, h, w)
        return self.synth(torch.cat([feats_prev, feats_next, plane.to(feats_prev.dtype)], 1))

    def encode_labels(self, keypoints: torch.Tensor, weight: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Embed the ground-truth key-frame pose: keypoints (B, K, 2) in input pixels, weight (B, K).

        Coordinates are scaled to [-1, 1] by the input `size` (H, W); unlabelled joints are zeroed
        and flagged by the weight channel. Returns `(B, D)`.
        """
        h, w = size
        scale = keypoints.new_tensor([w, h])
        xy = (keypoints / scale * 2 - 1) * weight[..., None]  # (B, K, 2)
        return self.label_encoder(torch.cat([xy, weight[..., None]], -1).flatten(1))


class SingleFrameNet(nn.Module):
    """Backbone + heatmap head on one frame: the baseline that benchmarks compare against."""

    def __init__(self, widths: tuple[int, ...], blocks: int = 1, num_joints: int = NUM_JOINTS):
        super().__init__()
        self.backbone = HRBackbone(widths, blocks)
        self.head = nn.Conv2d(self.backbone.out_channels, num_joints, 1)
        nn.init.normal_(self.head.weight, std=1e-3)
        nn.init.zeros_(self.head.bias)

    def forward(self, frame: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> heatmaps (B, K, H/4, W/4)."""
        return self.head(self.backbone(frame))
