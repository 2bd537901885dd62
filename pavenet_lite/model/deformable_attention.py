"""Multi-scale, multi-frame deformable attention (Deformable DETR, Zhu et al. 2021) in pure PyTorch.

One sampling kernel, `deformable_sample`, serves the three attentions of PAVE-Net:

* the spatial encoder (self-attention inside one frame: F = 1, frames folded into the batch),
* the pose-aware attention of the pose decoder (`pose_aware_attention.py`, P = K points per frame/level/head),
* the joint attention of the joint decoder (`MultiFrameDeformableAttention` below with F frames).

Each query q and head m reads, in every frame f and level l, P bilinear samples of that frame's value map and sums
them with weights that are ONE softmax over the F * L * P samples of the head (the official code rescales
per-frame softmaxes with unstabilised `exp`; a single softmax is the same function, computed stably).

Coordinates: sampling locations are normalised to the PADDED map of each level, (0, 0) = top-left corner of the
top-left cell, (1, 1) = bottom-right corner, as `grid_sample(align_corners=False)` reads them; points outside the
map read zeros. Normalised coordinates of the unpadded image are converted by multiplying with the valid ratio.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def deformable_sample(value: torch.Tensor, shapes: list[tuple[int, int]], locations: torch.Tensor,
                      weights: torch.Tensor) -> torch.Tensor:
    """Weighted bilinear sampling of multi-frame, multi-level value maps.

    value `[B, F, N, M, D]` (N = sum_l H_l * W_l tokens of one frame, D = C / M), shapes [(H_l, W_l)] * L,
    locations `[B, Q, M, F, L, P, 2]` (x, y) normalised to the padded level map, weights `[B, Q, M, F, L, P]`.
    Returns `[B, Q, M * D]` in the dtype of `value`. Runs in float32 whatever the autocast state, so bf16/fp16
    training cannot lose the sub-pixel part of the locations.
    """
    B, Fr, N, M, D = value.shape
    Q, L, P = locations.shape[1], locations.shape[4], locations.shape[5]
    out_dtype = value.dtype
    with torch.autocast(device_type=value.device.type, enabled=False):
        # one layout change per tensor, heads and frames folded into grid_sample's batch: [B*M*F, ...]
        v = value.float().permute(0, 3, 1, 4, 2).reshape(B * M * Fr, D, N)
        grids = (2.0 * locations.float() - 1.0).permute(0, 2, 3, 4, 1, 5, 6).reshape(B * M * Fr, L, Q, P, 2)
        a = weights.float().permute(0, 2, 3, 4, 1, 5).reshape(B * M * Fr, L, 1, Q, P)
        out = v.new_zeros(B * M * Fr, D, Q)
        start = 0
        for lvl, (h, w) in enumerate(shapes):
            s = F.grid_sample(v[:, :, start:start + h * w].view(B * M * Fr, D, h, w), grids[:, lvl],
                              mode="bilinear", padding_mode="zeros", align_corners=False)   # [B*M*F, D, Q, P]
            out = out + (s * a[:, lvl]).sum(-1)
            start += h * w
    out = out.view(B, M, Fr, D, Q).sum(2)                                                    # [B, M, D, Q]
    return out.permute(0, 3, 1, 2).reshape(B, Q, M * D).to(out_dtype)


def joint_softmax(logits: torch.Tensor) -> torch.Tensor:
    """`[B, Q, M, F, L, P]` logits -> weights normalised over F * L * P per head (float32, max-subtracted)."""
    shape = logits.shape
    return logits.flatten(3).softmax(-1, dtype=torch.float32).view(shape)


class FrameLinear(nn.Module):
    """F independent Linear layers stored as one weight `[F, C_in, C_out]`: x `[..., C_in]` -> `[..., F, C_out]`.

    The official code keeps `pre_*` / `next_*` copies per frame; one tensor with an F dimension works for any F.
    """

    def __init__(self, num_frames: int, in_dim: int, out_dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(num_frames, in_dim, out_dim))
        self.bias = nn.Parameter(torch.zeros(num_frames, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("...c,fco->...fo", x, self.weight) + self.bias


class MultiFrameDeformableAttention(nn.Module):
    """Deformable attention of Nq queries over the L-level memory of F frames (encoder: F = 1; joint decoder: F).

    Point p of head m, frame f, level l sits at r_f * valid_ratio_l + offset / (W_l, H_l): offsets are in cells of
    that level. Offset biases start on the radial Deformable-DETR grid (head m looks in direction 2 pi m / M, point p
    at distance p + 1 cells); offset weights and attention logits start at zero, so every frame starts equally
    weighted. Value and output projections are shared by the frames; padding tokens are zeroed after `value_proj`.
    """

    def __init__(self, hidden_dim: int, num_heads: int, num_levels: int, num_points: int, num_frames: int = 1):
        super().__init__()
        self.M, self.L, self.P, self.F = num_heads, num_levels, num_points, num_frames
        self.sampling_offsets = FrameLinear(num_frames, hidden_dim, num_heads * num_levels * num_points * 2)
        self.attention_weights = FrameLinear(num_frames, hidden_dim, num_heads * num_levels * num_points)
        self.value_proj = nn.Linear(hidden_dim, hidden_dim)
        self.output_proj = nn.Linear(hidden_dim, hidden_dim)
        theta = torch.arange(num_heads, dtype=torch.float32) * (2 * math.pi / num_heads)
        grid = torch.stack([theta.cos(), theta.sin()], -1)
        grid = grid / grid.abs().max(-1, keepdim=True).values                 # [M, 2] on the unit square
        grid = grid[:, None, None, :] * torch.arange(1, num_points + 1, dtype=torch.float32)[None, None, :, None]
        grid = grid.expand(num_heads, num_levels, num_points, 2)             # [M, L, P, 2]
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.reshape(1, -1).expand(num_frames, -1))
        for lin in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, query: torch.Tensor, reference_points: torch.Tensor, value: torch.Tensor,
                padding_mask: torch.Tensor, shapes: list[tuple[int, int]], ratios: torch.Tensor,
                return_attention: bool = False) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
        """query `[B, Nq, C]` (with positional embedding), reference_points `[B, Nq, F, 2]` normalised to the
        unpadded image, value `[B, F, N, C]`, padding_mask `[B, N]` (True = padding), ratios `[B, L, 2]`.

        Returns `[B, Nq, C]` and, with `return_attention`, {"locations": `[B, Nq, M, F, L, P, 2]` normalised to the
        padded level maps, "weights": `[B, Nq, M, F, L, P]`}.
        """
        B, Nq, _ = query.shape
        M, L, P, Fr = self.M, self.L, self.P, self.F
        v = self.value_proj(value).masked_fill(padding_mask[:, None, :, None], 0.0)   # [B, F, N, C]
        v = v.view(B, Fr, v.shape[2], M, -1)                                         # [B, F, N, M, D]
        offsets = self.sampling_offsets(query).view(B, Nq, Fr, M, L, P, 2).permute(0, 1, 3, 2, 4, 5, 6)
        logits = self.attention_weights(query).view(B, Nq, Fr, M, L, P).permute(0, 1, 3, 2, 4, 5)
        weights = joint_softmax(logits)                                              # [B, Nq, M, F, L, P]
        sizes = torch.tensor([[w, h] for h, w in shapes], dtype=offsets.dtype, device=query.device)  # [L, 2]
        ref = reference_points[:, :, None, :, None, None, :] * ratios[:, None, None, None, :, None, :]
        locations = ref + offsets / sizes[:, None, :]                                # [B, Nq, M, F, L, P, 2]
        out = self.output_proj(deformable_sample(v, shapes, locations, weights))
        attn = {"locations": locations.detach(), "weights": weights.detach()} if return_attention else None
        return out, attn
