"""Spatiotemporal pose decoder: Q pose queries refine per-frame pose estimates over D layers (docs/paper.md).

Layer d: self-attention among the Q queries -> add & LN -> pose-aware cross-attention over the memory of all F
frames, anchored on the references r^(d) `[B, F, Q, K, 2]` -> add & LN -> FFN -> add & LN. Then every frame's
estimate is refined by its own MLP: r_f^(d+1) = sigmoid(MLP_f^(d)(h_d) + logit(r_f^(d))). As in the official code
the references are NOT detached between layers. r^(0) is the centre-frame proposal tiled over the F frames.

Gradient story (a decision; the official code differs). Only the centre frame is supervised. A non-centre estimate
r_f^(d+1) learns only through its use as the sampling anchor of layer d + 1. After the LAST layer nothing samples
with it: the official code feeds it, detached, to the joint decoder, so its last-layer `pre_/next_kpt_branches`
never receive gradient. We therefore do not build non-centre MLPs for the last layer: the last layer's non-centre
output is r_f^(D-1), the anchor the last layer itself used (for D = 1 the tiled proposal). `refine[d]` is a
ModuleDict keyed by frame index (str(f)); for d < D - 1 it holds all F frames, for d = D - 1 only the centre.
Every parameter thus learns, and the joint decoder still starts from detached per-frame keypoints as officially.
`last_all_frames=True` builds the official last-layer non-centre MLPs anyway: their (untrained) output is where the
official joint decoder starts in the other frames, so weights converted from the official checkpoint need them to
compute what the official model computes (`official_weights.py`).

Ablation `anchor="centre"`: every frame samples around the CENTRE frame's keypoints at every layer, i.e.
plain multi-frame deformable attention with no per-frame pose estimate: only the centre MLPs exist and the refined
centre estimate is tiled over the F frames. It asks whether following each person through time is what helps, or
merely seeing more frames.
"""
from __future__ import annotations

import torch
from torch import nn

from pavenet_lite.model.heads import KeypointRefine
from pavenet_lite.model.pose_aware_attention import PoseAwareAttention
from pavenet_lite.model.spatial_encoder import FFN


class PoseDecoderLayer(nn.Module):
    def __init__(self, hidden_dim: int, ffn_dim: int, dropout: float, num_heads: int, num_levels: int,
                 num_keypoints: int, num_frames: int):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(hidden_dim, num_heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(hidden_dim)
        self.cross_attn = PoseAwareAttention(hidden_dim, num_heads, num_levels, num_keypoints, num_frames)
        self.norm2 = nn.LayerNorm(hidden_dim)
        self.dropout = nn.Dropout(dropout)
        self.ffn = FFN(hidden_dim, ffn_dim, dropout)

    def forward(self, x: torch.Tensor, pos: torch.Tensor, keypoints: torch.Tensor, memory: torch.Tensor,
                mask: torch.Tensor, shapes: list[tuple[int, int]], ratios: torch.Tensor, return_attention: bool
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
        q = x + pos
        x = self.norm1(x + self.dropout(self.self_attn(q, q, x, need_weights=False)[0]))
        out, attn = self.cross_attn(x + pos, keypoints, memory, mask, shapes, ratios, return_attention)
        x = self.norm2(x + self.dropout(out))
        return self.ffn(x), attn


class PoseDecoder(nn.Module):
    """query / pos `[B, Q, C]`, reference `[B, F, Q, K, 2]`, memory `[B, F, N, C]`, mask `[B, N]`, ratios `[B, L, 2]`
    -> hidden states (D x `[B, Q, C]`), references after each layer (D x `[B, F, Q, K, 2]`), captures."""

    def __init__(self, num_layers: int, hidden_dim: int, ffn_dim: int, dropout: float, num_heads: int,
                 num_levels: int, num_keypoints: int, num_frames: int, anchor: str = "per_frame",
                 last_all_frames: bool = False):
        super().__init__()
        if anchor not in ("per_frame", "centre"):
            raise ValueError(f"PoseDecoder: anchor must be 'per_frame' or 'centre', got {anchor!r}")
        self.num_frames, self.anchor = num_frames, anchor
        self.layers = nn.ModuleList(
            PoseDecoderLayer(hidden_dim, ffn_dim, dropout, num_heads, num_levels, num_keypoints, num_frames)
            for _ in range(num_layers))
        centre = num_frames // 2
        self.refine = nn.ModuleList()
        for d in range(num_layers):
            every = d < num_layers - 1 or last_all_frames
            frames = range(num_frames) if every and anchor == "per_frame" else [centre]
            self.refine.append(nn.ModuleDict(
                {str(f): KeypointRefine(hidden_dim, 2 * hidden_dim, num_keypoints, num_layers=4) for f in frames}))

    def forward(self, x: torch.Tensor, pos: torch.Tensor, reference: torch.Tensor, memory: torch.Tensor,
                mask: torch.Tensor, shapes: list[tuple[int, int]], ratios: torch.Tensor,
                return_attention: bool = False
                ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[dict[str, torch.Tensor]]]:
        hidden, references, captured = [], [], []
        c = self.num_frames // 2
        for layer, refine in zip(self.layers, self.refine):
            x, attn = layer(x, pos, reference, memory, mask, shapes, ratios, return_attention)
            if self.anchor == "centre":
                centre = refine[str(c)](x, reference[:, c])                      # [B, Q, K, 2]
                reference = centre[:, None].expand(-1, self.num_frames, -1, -1, -1)
            else:
                frames = [refine[str(f)](x, reference[:, f]) if str(f) in refine else reference[:, f]
                          for f in range(self.num_frames)]
                reference = torch.stack(frames, 1)  # [B, F, Q, K, 2]
            hidden.append(x)
            references.append(reference)
            if attn is not None:
                captured.append(attn)
        return hidden, references, captured
