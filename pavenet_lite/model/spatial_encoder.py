"""Spatial encoder: deformable self-attention over the multi-scale tokens of each frame, frames independent.

The paper rejects a global spatiotemporal encoder (attention cost grows with the tokens of all frames); here every
frame is a separate batch entry `[B * F, N, C]` and time is only mixed later, in the pose and joint decoders.
Each layer: deformable self-attention (M heads, L levels, P points) -> add & LN -> FFN -> add & LN (post-LN).
"""
from __future__ import annotations

import torch
from torch import nn

from pavenet_lite.model.deformable_attention import MultiFrameDeformableAttention


def token_centres(shapes: list[tuple[int, int]], ratios: torch.Tensor) -> torch.Tensor:
    """Centre of every token's grid cell, normalised to the UNPADDED image: `[B, N, 2]` (x, y).

    ratios `[B, L, 2]` are the valid ratios; cell (i, j) of level l has centre ((j + 0.5) / valid_W_l,
    (i + 0.5) / valid_H_l), which exceeds 1 for padding cells.
    """
    centres = []
    for lvl, (h, w) in enumerate(shapes):
        ys, xs = torch.meshgrid(torch.arange(h, device=ratios.device, dtype=torch.float32) + 0.5,
                                torch.arange(w, device=ratios.device, dtype=torch.float32) + 0.5, indexing="ij")
        valid = ratios[:, lvl] * torch.tensor([w, h], device=ratios.device, dtype=torch.float32)  # [B, 2]
        xy = torch.stack([xs.reshape(-1), ys.reshape(-1)], -1)                                   # [HW, 2]
        centres.append(xy[None] / valid[:, None, :])
    return torch.cat(centres, 1)


class FFN(nn.Module):
    """Position-wise feed-forward block with its residual and post-LayerNorm."""

    def __init__(self, hidden_dim: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(hidden_dim, ffn_dim), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                 nn.Linear(ffn_dim, hidden_dim), nn.Dropout(dropout))
        self.norm = nn.LayerNorm(hidden_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.net(x))


class EncoderLayer(nn.Module):
    def __init__(self, hidden_dim: int, ffn_dim: int, dropout: float, num_heads: int, num_levels: int,
                 num_points: int):
        super().__init__()
        self.self_attn = MultiFrameDeformableAttention(hidden_dim, num_heads, num_levels, num_points, num_frames=1)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(hidden_dim)
        self.ffn = FFN(hidden_dim, ffn_dim, dropout)

    def forward(self, x: torch.Tensor, pos: torch.Tensor, ref: torch.Tensor, mask: torch.Tensor,
                shapes: list[tuple[int, int]], ratios: torch.Tensor, return_attention: bool
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
        attn_out, attn = self.self_attn(x + pos, ref, x[:, None], mask, shapes, ratios, return_attention)
        x = self.norm(x + self.dropout(attn_out))
        return self.ffn(x), attn


class SpatialEncoder(nn.Module):
    """tokens `[B', N, C]` (B' = B * F), pos `[B', N, C]`, mask `[B', N]`, ratios `[B', L, 2]` -> memory `[B', N, C]`.

    With `return_attention`, also a list (one per layer) of {"locations": `[B', N, M, 1, L, P, 2]`,
    "weights": `[B', N, M, 1, L, P]`} (padded-level normalised coordinates).
    """

    def __init__(self, num_layers: int, hidden_dim: int, ffn_dim: int, dropout: float, num_heads: int,
                 num_levels: int, num_points: int):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(hidden_dim, ffn_dim, dropout, num_heads, num_levels, num_points)
                                    for _ in range(num_layers))

    def forward(self, x: torch.Tensor, pos: torch.Tensor, mask: torch.Tensor, shapes: list[tuple[int, int]],
                ratios: torch.Tensor, return_attention: bool = False
                ) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
        ref = token_centres(shapes, ratios)[:, :, None, :]  # [B', N, 1, 2]: each token looks around itself
        captured = []
        for layer in self.layers:
            x, attn = layer(x, pos, ref, mask, shapes, ratios, return_attention)
            if attn is not None:
                captured.append(attn)
        return x, captured
