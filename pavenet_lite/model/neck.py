"""Neck: map the backbone's C3..C5 to L feature levels of C channels (mmdet ChannelMapper equivalent).

Level l < 3 is a 1x1 conv + GroupNorm on C(3 + l); each further level is a 3x3 stride-2 conv + GroupNorm, the first
on the raw C5 map and the next ones on the previous extra level, giving strides 8, 16, 32, 64, ...
"""
from __future__ import annotations

import math

import torch
from torch import nn


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with 32 groups when C allows it (the official setting), fewer for the small presets."""
    return nn.GroupNorm(math.gcd(32, channels), channels)


class Neck(nn.Module):
    """[C3, C4, C5] `[B', c_i, H_i, W_i]` -> L maps `[B', C, H_l, W_l]`, strides 8 * 2**l."""

    def __init__(self, in_channels: tuple[int, ...], hidden_dim: int, num_levels: int):
        super().__init__()
        used = in_channels[:num_levels]
        self.input_proj = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, hidden_dim, 1), group_norm(hidden_dim)) for c in used)
        self.extra_proj = nn.ModuleList()
        for i in range(num_levels - len(used)):
            c_in = in_channels[-1] if i == 0 else hidden_dim
            self.extra_proj.append(nn.Sequential(nn.Conv2d(c_in, hidden_dim, 3, 2, 1), group_norm(hidden_dim)))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        out = [proj(f) for proj, f in zip(self.input_proj, feats)]
        x = feats[-1]
        for proj in self.extra_proj:
            x = proj(x)
            out.append(x)
        return out
