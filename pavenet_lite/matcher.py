"""Hungarian matching: a one-to-one assignment of pose queries to ground-truth people.

PAVE-Net predicts a fixed set of Q poses per clip and has no NMS, so training must decide which query is responsible
for which person. Per clip we build a cost matrix `[Q, G]` and solve the assignment problem exactly with
`scipy.optimize.linear_sum_assignment` (docs/paper.md). The cost of query q for person g is

    cost_cls * focal_cost(logit_q) + cost_kpt * L1(q, g) + cost_oks * (-OKS(q, g)),

all on the centre frame, with coordinates normalised by the image size. Queries left unmatched are "no person".
The same matcher serves the encoder proposals (Q = N tokens, padding tokens excluded via `valid`) and every
pose-decoder layer.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from pavenet_lite.keypoint_ops import keypoint_l1, oks

Match = tuple[Tensor, Tensor]  # (query_idx [M], gt_idx [M]) int64, M = min(#valid queries, G)


def focal_cost(logits: Tensor, alpha: float = 0.25, gamma: float = 2.0, eps: float = 1e-12) -> Tensor:
    """Classification cost of declaring each query a person (mmdet's FocalLossCost).

    logits `[Q]` -> cost `[Q]`: the focal loss of the target "person" minus that of the target "no person", so that
    the cost only ranks queries by how much matching them would change the classification loss.
    """
    p = logits.float().sigmoid()
    pos = -alpha * (1 - p).pow(gamma) * (p + eps).log()
    neg = -(1 - alpha) * p.pow(gamma) * (1 - p + eps).log()
    return pos - neg


def cost_terms(logits: Tensor, keypoints: Tensor, gt_keypoints: Tensor, annotated: Tensor, areas: Tensor,
               alpha: float = 0.25, gamma: float = 2.0) -> dict[str, Tensor]:
    """The three unweighted cost terms of one clip, each `[Q, G]`.

    logits `[Q]`, keypoints `[Q, K, 2]` (predictions), gt_keypoints `[G, K, 2]`, annotated `[G, K]` bool,
    areas `[G]` (normalised person areas). A person without annotated joints gets keypoint and OKS cost 0 for every
    query (only the classification cost decides), never NaN.
    """
    num_q, num_g = keypoints.shape[0], gt_keypoints.shape[0]
    pred = keypoints.float()[:, None]                                              # [Q, 1, K, 2]
    gt, ann = gt_keypoints.float()[None], annotated[None]                          # [1, G, K, 2], [1, G, K]
    return {
        "cls": focal_cost(logits, alpha, gamma)[:, None].expand(num_q, num_g),     # [Q, G]
        "kpt": keypoint_l1(pred, gt, ann),                                         # [Q, G]
        "oks": -oks(pred, gt, ann, areas.float()[None]),                          # [Q, G]
    }


class HungarianMatcher(nn.Module):
    """Optimal one-to-one assignment of predicted poses to ground-truth people, per clip (DETR convention).

    Weights default to the official PAVE-Net matcher (focal 2, L1 70, OKS 7; focal alpha 0.25, gamma 2).
    """

    def __init__(self, cost_cls: float = 2.0, cost_kpt: float = 70.0, cost_oks: float = 7.0,
                 alpha: float = 0.25, gamma: float = 2.0):
        super().__init__()
        self.cost_cls, self.cost_kpt, self.cost_oks = cost_cls, cost_kpt, cost_oks
        self.alpha, self.gamma = alpha, gamma

    @classmethod
    def from_config(cls, cfg: Any) -> HungarianMatcher:
        """Build from any object with `cost_cls`, `cost_kpt`, `cost_oks`, `focal_alpha`, `focal_gamma`."""
        return cls(cfg.cost_cls, cfg.cost_kpt, cfg.cost_oks, cfg.focal_alpha, cfg.focal_gamma)

    def cost_matrix(self, logits: Tensor, keypoints: Tensor, target: dict[str, Tensor]) -> Tensor:
        """Weighted cost `[Q, G]` of one clip: logits `[Q]`, keypoints `[Q, K, 2]`, one target dict."""
        gt = {k: target[k].to(logits.device) for k in ("keypoints", "annotated", "areas")}
        terms = cost_terms(logits, keypoints, gt["keypoints"], gt["annotated"].bool(), gt["areas"], self.alpha, self.gamma)
        return self.cost_cls * terms["cls"] + self.cost_kpt * terms["kpt"] + self.cost_oks * terms["oks"]

    @torch.no_grad()
    def forward(self, outputs: dict[str, Tensor], targets: list[dict[str, Tensor]],
                valid: Tensor | None = None, repeats: int = 1) -> list[Match]:
        """Match every clip of the batch.

        outputs: `pred_logits` `[B, Q]`, `pred_keypoints` `[B, Q, K, 2]` (any float dtype).
        targets: B dicts with `keypoints` `[G, K, 2]`, `annotated` `[G, K]` bool, `areas` `[G]`.
        valid: optional `[B, Q]` bool; False queries (padding tokens of the encoder proposals) are never matched.
        repeats: one-to-many matching; every person takes up to `repeats` distinct queries (the assignment of
        `repeats` copies of each person), as for the dense encoder proposals, which need not be duplicate-free.
        Returns B pairs (query_idx `[M]`, gt_idx `[M]`) of int64 CPU tensors, query_idx ascending,
        M = min(#valid queries, repeats * G).
        """
        logits, keypoints = outputs["pred_logits"], outputs["pred_keypoints"]  # [B, Q], [B, Q, K, 2]
        matches: list[Match] = []
        for b, target in enumerate(targets):
            # Excluding invalid queries (rather than a large cost) guarantees they are never chosen, even if G
            # exceeds the number of valid queries.
            query_ids = torch.arange(logits.shape[1], device=logits.device)
            if valid is not None:
                query_ids = query_ids[valid[b]]
            if len(query_ids) == 0 or target["keypoints"].shape[0] == 0:
                matches.append((torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64)))
                continue
            cost = self.cost_matrix(logits[b, query_ids], keypoints[b, query_ids], target)  # [Q_valid, G]
            num_g = cost.shape[1]
            rows, cols = linear_sum_assignment(cost.repeat(1, repeats).double().cpu().numpy())  # [Q_valid, r * G]
            matches.append((query_ids.cpu()[torch.as_tensor(rows, dtype=torch.int64)],
                            torch.as_tensor((cols % num_g).astype(np.int64))))
        return matches
