"""A stride-4 level for the joint decoder and the auxiliary heatmaps (not in the paper; `cfg.fine_level`).

At the CPU presets' 192 px a person is 40-60 px tall, so the finest encoder level (stride 8) gives 5-8 cells per
person while the PCKh radius of a joint is ~3 px: the joint decoder has to place joints well inside one cell. This
level gives it cells of 4 px, built like one top-down step of a feature pyramid (Lin et al. 2017): the backbone's
C2 map (fine detail, little context) plus the encoded stride-8 level upsampled to the same size (context), then a
3x3 conv that blends the two:

    fine = GN(Conv3x3(GN(Conv1x1(C2)) + upsample(memory level 0)))       # [B*F, C, H/4, W/4]

It is not encoded (the encoder's cost grows with its tokens) and is read only by the joint decoder (as its last
level, after the encoder's L) and, in training, by the heatmap head. With `fine_level=False` nothing is built.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pavenet_lite.model.neck import group_norm


class FineLevel(nn.Module):
    """C2 `[B', c2, H_f, W_f]` and the finest encoded level `[B', C, H_0, W_0]` -> `[B', C, H_f, W_f]`."""

    def __init__(self, in_channels: int, hidden_dim: int):
        super().__init__()
        self.lateral = nn.Sequential(nn.Conv2d(in_channels, hidden_dim, 1), group_norm(hidden_dim))
        self.blend = nn.Sequential(nn.Conv2d(hidden_dim, hidden_dim, 3, padding=1), group_norm(hidden_dim))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, c2: torch.Tensor, level0: torch.Tensor) -> torch.Tensor:
        context = F.interpolate(level0, size=c2.shape[-2:], mode="bilinear", align_corners=False)
        return self.blend(self.lateral(c2) + context)                          # [B', C, H_f, W_f]
