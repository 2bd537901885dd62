"""Positions of the multi-scale tokens: padding masks, valid ratios and the sine encoding + level embedding.

Padding is bottom/right only (design.md), so the valid part of each level is its top-left corner; its fraction of
the padded map is the level's *valid ratio* `[B, L, 2]` (x, y). Normalised coordinates of the unpadded image times the
valid ratio give normalised coordinates of the padded level map, which is what the deformable sampler consumes.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def level_masks(masks: torch.Tensor, shapes: list[tuple[int, int]]) -> list[torch.Tensor]:
    """masks `[B, H, W]` (True = padding) -> per level `[B, H_l, W_l]` (nearest downsampling, as DETR)."""
    m = masks[None].float()
    return [F.interpolate(m, size=s)[0].bool() for s in shapes]


def valid_ratios(masks_per_level: list[torch.Tensor]) -> torch.Tensor:
    """Per level masks -> `[B, L, 2]` fraction (x, y) of each padded map that is image."""
    ratios = []
    for m in masks_per_level:
        h, w = m.shape[-2:]
        valid_h = (~m[:, :, 0]).sum(1).float() / h
        valid_w = (~m[:, 0, :]).sum(1).float() / w
        ratios.append(torch.stack([valid_w, valid_h], -1))
    return torch.stack(ratios, 1)


class PositionEncoding(nn.Module):
    """Sine encoding of normalised (x, y) (normalize=True, offset -0.5) plus a learned embedding per level.

    mask `[B, H_l, W_l]`, level l -> `[B, C, H_l, W_l]` (first C/2 channels encode y, last C/2 encode x).
    """

    def __init__(self, hidden_dim: int, num_levels: int, temperature: float = 10000.0):
        super().__init__()
        self.num_feats = hidden_dim // 2
        self.temperature = temperature
        self.level_embed = nn.Parameter(torch.empty(num_levels, hidden_dim))
        nn.init.normal_(self.level_embed)

    def forward(self, mask: torch.Tensor, level: int) -> torch.Tensor:
        not_mask = (~mask).float()
        eps, scale = 1e-6, 2 * math.pi
        y = not_mask.cumsum(1)
        x = not_mask.cumsum(2)
        # cell centres normalised by the valid extent, so the same place in the image gets the same code at every pad
        y = (y - 0.5) / (y[:, -1:, :] + eps) * scale
        x = (x - 0.5) / (x[:, :, -1:] + eps) * scale
        dim_t = torch.arange(self.num_feats, dtype=torch.float32, device=mask.device)
        dim_t = self.temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / self.num_feats)
        pos_x = x[..., None] / dim_t  # [B, H_l, W_l, C/2]
        pos_y = y[..., None] / dim_t
        pos_x = torch.stack([pos_x[..., 0::2].sin(), pos_x[..., 1::2].cos()], -1).flatten(3)
        pos_y = torch.stack([pos_y[..., 0::2].sin(), pos_y[..., 1::2].cos()], -1).flatten(3)
        pos = torch.cat([pos_y, pos_x], -1).permute(0, 3, 1, 2)  # [B, C, H_l, W_l]
        return pos + self.level_embed[level][None, :, None, None]
