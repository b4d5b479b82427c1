"""A compact HRNet-style backbone: parallel resolution branches, repeated multi-scale fusion.

Follows HRNet (Sun et al., CVPR 2019) in shape, not in size: a stride-4 stem, then one stage per
branch; stage s runs branches 0..s (each at 1/2 the resolution and `widths[i]` channels) through
residual blocks, then exchanges information between all branches (upsample + 1x1 conv from lower
resolutions, strided 3x3 convs from higher ones). The output is branch 0 (stride 4) after a final
fusion of every branch into it.

GroupNorm everywhere instead of BatchNorm: no running statistics, so the network is a pure function
of its parameters (same result in train and eval mode, and it works under `torch.func.vmap` when many
loss-weight settings are trained as one stacked model).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with the largest group count in (8, 4, 2, 1) that divides `channels`."""
    groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


def conv_norm_relu(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    """3x3 conv -> GroupNorm -> ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), group_norm(c_out), nn.ReLU()
    )


class ResidualBlock(nn.Module):
    """Two 3x3 convs with GroupNorm and an identity skip (the HRNet BasicBlock)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm1 = group_norm(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm2 = group_norm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x)))
        return F.relu(x + self.norm2(self.conv2(y)))


class FuseLayer(nn.Module):
    """Exchange information between branches: output j = sum over i of branch i resampled to j."""

    def __init__(self, widths: tuple[int, ...], n_out: int):
        super().__init__()
        self.paths = nn.ModuleList()
        for j in range(n_out):
            row = nn.ModuleList()
            for i, w_in in enumerate(widths):
                if i == j:
                    row.append(nn.Identity())
                elif i > j:  # lower resolution -> higher: 1x1 conv now, upsample in forward
                    row.append(nn.Sequential(nn.Conv2d(w_in, widths[j], 1, bias=False), group_norm(widths[j])))
                else:  # higher resolution -> lower: (j - i) strided 3x3 convs
                    steps = []
                    for k in range(j - i):
                        last = k == j - i - 1
                        c_out = widths[j] if last else w_in
                        steps += [nn.Conv2d(w_in, c_out, 3, stride=2, padding=1, bias=False), group_norm(c_out)]
                        if not last:
                            steps.append(nn.ReLU())
                    row.append(nn.Sequential(*steps))
            self.paths.append(row)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        out = []
        for j, row in enumerate(self.paths):
            total = xs[j]
            for i, path in enumerate(row):
                if i == j:
                    continue
                y = path(xs[i])
                if i > j:
                    y = F.interpolate(y, size=xs[j].shape[-2:], mode="nearest")
                total = total + y
            out.append(F.relu(total))
        return out


class HRBackbone(nn.Module):
    """HRNet-style feature extractor.

    Args:
        widths: channels of each resolution branch, highest resolution first (e.g. (32, 64, 128, 256)
            for an HRNet-W32-like net, (8, 16) for CPU tests). Branch i has stride 4 * 2**i.
        blocks: residual blocks per branch per stage.

    Input `(N, 3, H, W)`; output `(N, widths[0], H/4, W/4)`.
    """

    def __init__(self, widths: tuple[int, ...], blocks: int = 1):
        super().__init__()
        self.widths = tuple(widths)
        stem_width = max(16, widths[0])
        self.stem = nn.Sequential(conv_norm_relu(3, stem_width, 2), conv_norm_relu(stem_width, widths[0], 2))
        self.stages = nn.ModuleList()
        self.transitions = nn.ModuleList()
        self.fuses = nn.ModuleList()
        for s in range(len(widths)):
            self.stages.append(nn.ModuleList(
                nn.Sequential(*[ResidualBlock(widths[i]) for _ in range(blocks)]) for i in range(s + 1)
            ))
            last = s == len(widths) - 1
            # The last stage fuses everything into branch 0 only (the pose head reads stride 4).
            self.fuses.append(FuseLayer(widths[: s + 1], 1 if last else s + 1) if s > 0 or last else nn.Identity())
            if not last:  # a new, lower-resolution branch grows from the lowest one
                self.transitions.append(conv_norm_relu(widths[s], widths[s + 1], 2))

    @property
    def out_channels(self) -> int:
        return self.widths[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xs = [self.stem(x)]  # [(N, w0, H/4, W/4)]
        for s, stage in enumerate(self.stages):
            xs = [branch(xi) for branch, xi in zip(stage, xs)]
            fuse = self.fuses[s]
            xs = fuse(xs) if isinstance(fuse, FuseLayer) else xs
            if s < len(self.transitions):
                xs = xs + [self.transitions[s](xs[-1])]  # new branch: (N, w_{s+1}, H/4/2^(s+1), ...)
        return xs[0]  # (N, w0, H/4, W/4)
