"""Two-stage query selection: every centre-frame token proposes a pose; the Q best become the pose queries.

Only the centre frame F // 2 proposes (the output is the centre frame's poses). For token n with memory m_n:
e_n = LN(Linear(m_n)); score logit s_n = cls(e_n); keypoints k_n = sigmoid(kpt(e_n) + logit(c_n)) where c_n is
the centre of the token's grid cell (normalised to the unpadded image), i.e. each token predicts a pose as offsets
from its own location; sigma_n = sigma(e_n). The top-Q tokens by s_n give the initial references (their keypoints)
and the query content (their e_n), both detached: the proposals are trained by their own loss (`enc_outputs`),
the decoder only starts from them (as PETR / Deformable DETR two-stage).

Distinct queries (`query_nms` > 0, not in the paper; Dense Distinct Queries, Zhang et al. 2023): the top-Q tokens
cluster on people, several per person, and the decoder must then learn which of near-identical queries is "the one"
for its person, the slowest thing a one-to-one trained DETR learns. With `query_nms`, the Q queries are picked
greedily from the 3Q best tokens, skipping a token whose pose has OKS > `query_nms` with one already picked
(normalised coordinates), and topped up with the best skipped ones. The model's output is still NMS-free: this only
chooses where the queries start.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from pavenet_lite.keypoint_ops import pairwise_oks
from pavenet_lite.model.heads import KeypointRefine, SigmaHead, score_head


def distinct_top(scores: torch.Tensor, keypoints: torch.Tensor, num: int, threshold: float) -> torch.Tensor:
    """scores `[B, N]`, keypoints `[B, N, K, 2]` -> `[B, num]` token indices: greedy OKS-NMS over the 3 * num best
    tokens (a token is skipped if its OKS with a kept one exceeds `threshold`), then the best skipped ones until
    there are `num`. Order: kept by score, then the rest by score."""
    cand = scores.topk(min(scores.shape[1], 3 * num), dim=1).indices                  # [B, M] by score
    gathered = torch.gather(keypoints, 1, cand[..., None, None].expand(-1, -1, *keypoints.shape[2:]))
    similar = (pairwise_oks(gathered) > threshold).cpu().numpy()                      # [B, M, M]
    picked = []
    for b in range(len(similar)):
        kept = np.zeros(similar.shape[1], bool)
        free = np.ones(similar.shape[1], bool)
        for i in np.flatnonzero(free):
            if free[i]:
                kept[i] = True
                free &= ~similar[b, i]
        order = np.concatenate([np.flatnonzero(kept), np.flatnonzero(~kept)])[:num]
        picked.append(cand[b, torch.as_tensor(order, device=cand.device)])
    return torch.stack(picked)


class QuerySelection(nn.Module):
    """memory `[B, N, C]` of the centre frame, padding mask `[B, N]`, token centres `[B, N, 2]` ->
    proposals over all N tokens and the top-Q selection (see `forward`)."""

    def __init__(self, hidden_dim: int, num_queries: int, num_keypoints: int, query_nms: float = 0.0):
        super().__init__()
        self.num_queries, self.query_nms = num_queries, query_nms
        self.enc_output = nn.Linear(hidden_dim, hidden_dim)
        self.enc_norm = nn.LayerNorm(hidden_dim)
        self.cls_head = score_head(hidden_dim)
        self.kpt_head = KeypointRefine(hidden_dim, 2 * hidden_dim, num_keypoints, num_layers=4)
        self.sigma_head = SigmaHead(hidden_dim, num_keypoints)

    def forward(self, memory: torch.Tensor, mask: torch.Tensor, centres: torch.Tensor
                ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """Returns
        - enc_outputs: {"pred_logits" `[B, N]`, "pred_keypoints" `[B, N, K, 2]`, "pred_sigmas" `[B, N, K, 2]`,
          "valid" `[B, N]` bool, "query_index" `[B, Q]` the tokens that became the queries} (padding tokens have
          finite but meaningless values; losses must use `valid`);
        - content `[B, Q, C]`: selected e_n, detached;
        - reference `[B, Q, K, 2]`: selected keypoints in [0, 1], detached.
        """
        B, N, _ = memory.shape
        if N < self.num_queries:
            raise ValueError(f"query selection: the input gives N = {N} tokens per frame, fewer than "
                             f"num_queries = {self.num_queries}; use larger images or fewer queries")
        e = self.enc_norm(self.enc_output(memory.masked_fill(mask[..., None], 0.0)))     # [B, N, C]
        logits = self.cls_head(e).squeeze(-1)                                           # [B, N]
        K = self.kpt_head.num_keypoints
        anchors = centres.clamp(0.0, 1.0)[:, :, None, :].expand(B, N, K, 2)              # padding cells -> border
        keypoints = self.kpt_head(e, anchors)                                           # [B, N, K, 2]
        sigmas = self.sigma_head(e)                                                     # [B, N, K, 2]
        valid = ~mask
        # padding tokens are never chosen while enough real tokens exist
        ranking = logits.detach().float().masked_fill(mask, float("-inf"))
        if self.query_nms > 0:
            top = distinct_top(ranking, keypoints.detach(), self.num_queries, self.query_nms)  # [B, Q]
        else:
            top = ranking.topk(self.num_queries, dim=1).indices                         # [B, Q]
        content = torch.gather(e, 1, top[..., None].expand(-1, -1, e.shape[-1])).detach()
        reference = torch.gather(keypoints, 1, top[:, :, None, None].expand(-1, -1, K, 2)).detach()
        enc_outputs = {"pred_logits": logits, "pred_keypoints": keypoints, "pred_sigmas": sigmas, "valid": valid,
                       "query_index": top}
        return enc_outputs, content, reference
