"""Pose-aware attention: the cross-attention of the spatiotemporal pose decoder (docs/paper.md).

A pose query carries one keypoint estimate per frame, r_{f,k} `[B, F, Q, K, 2]`. In every frame f, level l and head
m it samples K points, point k anchored on ITS OWN keypoint k of THAT frame, offset in units of half the frame's
pose extent (w_f, h_f) = max - min of its K references (clamped >= 1e-4):

    p_{f,m,l,k} = r_{f,k} * vr_l + Delta_{f,m,l,k} * 0.5 * (w_f, h_f),       Delta_f = Linear_f^off(q)

so the aggregation follows the same person through time. Weights a_f = Linear_f^att(q) are normalised by ONE
softmax over the F * L * K points of a head. Offset and weight layers have an F dimension (`FrameLinear`) and start
at zero: every point starts exactly on its keypoint and all frames/levels/points weigh the same. Value and output
projections are shared by the frames. As in the official code the key-padding mask zeroes the memory BEFORE
`value_proj` (padding tokens then carry the projection bias, which the sampler can reach only at image borders).
"""
from __future__ import annotations

import torch
from torch import nn

from pavenet_lite.model.deformable_attention import FrameLinear, deformable_sample, joint_softmax


class PoseAwareAttention(nn.Module):
    def __init__(self, hidden_dim: int, num_heads: int, num_levels: int, num_keypoints: int, num_frames: int):
        super().__init__()
        self.M, self.L, self.K, self.F = num_heads, num_levels, num_keypoints, num_frames
        self.sampling_offsets = FrameLinear(num_frames, hidden_dim, num_heads * num_levels * num_keypoints * 2)
        self.attention_weights = FrameLinear(num_frames, hidden_dim, num_heads * num_levels * num_keypoints)
        self.value_proj = nn.Linear(hidden_dim, hidden_dim)
        self.output_proj = nn.Linear(hidden_dim, hidden_dim)
        for lin in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, query: torch.Tensor, keypoints: torch.Tensor, memory: torch.Tensor, padding_mask: torch.Tensor,
                shapes: list[tuple[int, int]], ratios: torch.Tensor, return_attention: bool = False
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
        """query `[B, Q, C]` (content + positional embedding), keypoints `[B, F, Q, K, 2]` normalised to the unpadded
        image, memory `[B, F, N, C]`, padding_mask `[B, N]`, ratios `[B, L, 2]`.

        Returns `[B, Q, C]` and, with `return_attention`, {"locations": `[B, Q, M, F, L, K, 2]` (padded-level
        normalised), "weights": `[B, Q, M, F, L, K]`}.
        """
        B, Q, _ = query.shape
        M, L, K, Fr = self.M, self.L, self.K, self.F
        v = self.value_proj(memory.masked_fill(padding_mask[:, None, :, None], 0.0))    # [B, F, N, C]
        v = v.view(B, Fr, v.shape[2], M, -1)                                           # [B, F, N, M, D]
        offsets = self.sampling_offsets(query).view(B, Q, Fr, M, L, K, 2).permute(0, 1, 3, 2, 4, 5, 6)
        weights = joint_softmax(self.attention_weights(query).view(B, Q, Fr, M, L, K).permute(0, 1, 3, 2, 4, 5))
        ref = keypoints.permute(0, 2, 1, 3, 4)[:, :, None, :, None] * ratios[:, None, None, None, :, None, :]
        # ref [B, Q, 1, F, L, K, 2]: keypoint k of frame f in level-l padded coordinates
        extent = (ref.amax(-2, keepdim=True) - ref.amin(-2, keepdim=True)).clamp(min=1e-4)  # [B, Q, 1, F, L, 1, 2]
        locations = ref + offsets * extent * 0.5                                       # [B, Q, M, F, L, K, 2]
        out = self.output_proj(deformable_sample(v, shapes, locations, weights))
        attn = {"locations": locations.detach(), "weights": weights.detach()} if return_attention else None
        return out, attn
