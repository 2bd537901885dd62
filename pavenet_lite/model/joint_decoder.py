"""Joint decoder: keypoint-level spatiotemporal refinement of selected persons (docs/paper.md).

Each selected person gets K joint queries (one learned embedding `[K, 2C]` -> content and positional halves, shared
by all persons). Joint j of a person starts from that person's per-frame keypoint j of the last pose-decoder layer
(detached, as the official code): r_{f,j} `[F, 2]`. A layer: self-attention among the K joints of the person ->
add & LN -> deformable cross-attention over the person's own clip memory (F frames, P points per frame/level/head
around r_{f,j}, `MultiFrameDeformableAttention`, one softmax over F * L * P) -> add & LN -> FFN -> add & LN. Then
r_{f,j} <- sigmoid(MLP_f^(d)(h_j) + logit(r_{f,j})) (no detach between layers).

The centre-frame estimate of every layer is an output (supervised by RLE with a per-layer sigma head). As in the
pose decoder, non-centre MLPs exist only where a later layer samples with their output, i.e. not after the last
layer (the official last-layer `pre_/next_refine_kpt_branches` can never learn).

Persons are batched per clip: `[B, P, ...]` with P = the largest number of persons of a clip and a `valid` mask, so
the clip memory is projected once per layer instead of being copied for every person.
"""
from __future__ import annotations

import torch
from torch import nn

from pavenet_lite.model.deformable_attention import MultiFrameDeformableAttention
from pavenet_lite.model.heads import KeypointRefine, SigmaHead
from pavenet_lite.model.spatial_encoder import FFN


class JointDecoderLayer(nn.Module):
    def __init__(self, hidden_dim: int, ffn_dim: int, dropout: float, num_heads: int, num_levels: int,
                 num_points: int, num_frames: int):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(hidden_dim, num_heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(hidden_dim)
        self.cross_attn = MultiFrameDeformableAttention(hidden_dim, num_heads, num_levels, num_points, num_frames)
        self.norm2 = nn.LayerNorm(hidden_dim)
        self.dropout = nn.Dropout(dropout)
        self.ffn = FFN(hidden_dim, ffn_dim, dropout)

    def forward(self, x: torch.Tensor, pos: torch.Tensor, reference: torch.Tensor, memory: torch.Tensor,
                mask: torch.Tensor, shapes: list[tuple[int, int]], ratios: torch.Tensor, return_attention: bool
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
        B, P, K, C = x.shape
        q = (x + pos).view(B * P, K, C)
        sa = self.self_attn(q, q, x.view(B * P, K, C), need_weights=False)[0].view(B, P, K, C)
        x = self.norm1(x + self.dropout(sa))
        ref = reference.permute(0, 1, 3, 2, 4).reshape(B, P * K, -1, 2)                 # [B, P*K, F, 2]
        out, attn = self.cross_attn((x + pos).view(B, P * K, C), ref, memory, mask, shapes, ratios, return_attention)
        x = self.norm2(x + self.dropout(out.view(B, P, K, C)))
        return self.ffn(x), attn


class JointDecoder(nn.Module):
    """reference `[B, P, F, K, 2]` (normalised, unpadded image), memory `[B, F, N, C]`, mask `[B, N]`, ratios `[B, L, 2]`
    -> per layer centre-frame keypoints `[B, P, K, 2]` and sigmas `[B, P, K, 2]`, plus captures with
    "locations" `[B, P*K, M, F, L, P_j, 2]` and "weights" `[B, P*K, M, F, L, P_j]`."""

    def __init__(self, num_layers: int, hidden_dim: int, ffn_dim: int, dropout: float, num_heads: int,
                 num_levels: int, num_points: int, num_keypoints: int, num_frames: int):
        super().__init__()
        self.num_frames = num_frames
        self.query_embed = nn.Embedding(num_keypoints, 2 * hidden_dim)
        self.layers = nn.ModuleList(
            JointDecoderLayer(hidden_dim, ffn_dim, dropout, num_heads, num_levels, num_points, num_frames)
            for _ in range(num_layers))
        centre = num_frames // 2
        self.refine = nn.ModuleList()
        for d in range(num_layers):
            frames = range(num_frames) if d < num_layers - 1 else [centre]
            self.refine.append(nn.ModuleDict(
                {str(f): KeypointRefine(hidden_dim, hidden_dim, 1, num_layers=3) for f in frames}))
        self.sigma = nn.ModuleList(SigmaHead(hidden_dim, 1) for _ in range(num_layers))

    def forward(self, reference: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor,
                shapes: list[tuple[int, int]], ratios: torch.Tensor, return_attention: bool = False
                ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[dict[str, torch.Tensor]]]:
        B, P, Fr, K, _ = reference.shape
        pos, x = self.query_embed.weight.split(self.query_embed.embedding_dim // 2, dim=-1)  # [K, C] each
        pos = pos.expand(B, P, K, -1)
        x = x.expand(B, P, K, -1)
        centre = Fr // 2
        keypoints, sigmas, captured = [], [], []
        for layer, refine, sigma in zip(self.layers, self.refine, self.sigma):
            x, attn = layer(x, pos, reference, memory, mask, shapes, ratios, return_attention)
            frames = [refine[str(f)](x, reference[:, :, f, :, None, :]).squeeze(-2) if str(f) in refine
                      else reference[:, :, f] for f in range(Fr)]
            reference = torch.stack(frames, 2)                                           # [B, P, F, K, 2]
            keypoints.append(reference[:, :, centre])
            sigmas.append(sigma(x).squeeze(-2))                                         # [B, P, K, 2]
            if attn is not None:
                captured.append(attn)
        return keypoints, sigmas, captured
