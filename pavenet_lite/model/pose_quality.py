"""Pose quality: a head that predicts, for every pose query, how close each of its K joints is to a person.

Why (not in the paper): one-to-one matching gives the person score a hard target, 1 for the one query matched to a
person and 0 for all others, however good their poses. A model trained from scratch on a CPU localises joints
only to about twice PoseTrack's PCKh radius, so the matched query and its neighbours look alike and the score cannot
tell them apart: person scores sit in a narrow band and correct and wrong poses are ranked alike. Ranking the same
poses by their true quality would more than double the mAP of such a model (docs/experiments.md).
Quality-aware detectors (IoU-aware RetinaNet, FCOS centre-ness, VarifocalNet, RTMO) separate the two questions: the
score says "this is the one query of a person", the quality says "this pose is precise", and the final score is
their product. Here the quality is per joint, because PoseTrack's AP ranks every joint type by its own score.

    logits q = MLP(h)                                            h: last pose layer's queries [B, Q, C] -> [B, Q, K]
    target t_k = exp(-d_k^2 / (2 (rho s)^2))   d_k: joint k to the same joint of the query's nearest person (by OKS),
                                               s = sqrt(person area), rho = QUALITY_RADIUS; t_k = 1/2 at about the
                                               PCKh radius; 0 where that joint is not annotated or nobody is there
    loss = binary cross-entropy(q, t), mean over every valid query and joint (all Q queries, not just matched ones,
           so that duplicates and misses are seen)
    inference: person score = sqrt(p * mean_k sigmoid(q_k)),  joint score = sqrt(p * sigmoid(q_k)), p = sigmoid(cls)

The head is built only when `cfg.loss_quality > 0`; without it every output is unchanged.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pavenet_lite.keypoint_ops import oks
from pavenet_lite.model.heads import MLP

# rho: a joint's target is 1/2 at 1.18 rho sqrt(person area) from its person's joint, about PCKh's radius (0.5 x 0.6 x
# head diagonal, roughly 0.09 sqrt(box area) for upright people of SynthTrack and PoseTrack).
QUALITY_RADIUS = 0.08


class PoseQualityHead(nn.Module):
    """Queries `[..., C]` -> per-joint quality logits `[..., K]`."""

    def __init__(self, hidden_dim: int, num_keypoints: int):
        super().__init__()
        self.mlp = MLP(hidden_dim, hidden_dim, num_keypoints, 2)
        nn.init.constant_(self.mlp.layers[-1].bias, -math.log(9.0))  # quality 0.1 at start: most queries are far off

    def forward(self, h: Tensor) -> Tensor:
        return self.mlp(h).float()


def quality_targets(pred: Tensor, target: dict[str, Tensor], radius: float = QUALITY_RADIUS) -> Tensor:
    """Per-joint quality targets of one clip's queries.

    pred `[Q, K, 2]` normalised keypoints; target: "keypoints" `[G, K, 2]`, "annotated" `[G, K]`, "areas" `[G]` ->
    `[Q, K]` in [0, 1]. Each query is compared with the person of highest OKS; a clip without people gives zeros.
    """
    Q, K = pred.shape[:2]
    gt, ann, areas = target["keypoints"].to(pred), target["annotated"].to(pred.device).bool(), target["areas"].to(pred)
    if len(gt) == 0:
        return pred.new_zeros(Q, K)
    similarity = oks(pred[:, None], gt[None], ann[None], areas[None])            # [Q, G]
    nearest = similarity.argmax(1)                                               # [Q]
    d2 = (pred.float() - gt[nearest].float()).pow(2).sum(-1)                     # [Q, K]
    t = torch.exp(-d2 / (2 * radius ** 2 * areas[nearest, None].float()))
    return torch.where(ann[nearest], t, torch.zeros_like(t))


def quality_loss(logits: Tensor, keypoints: Tensor, targets: list[dict[str, Tensor]]) -> Tensor:
    """Mean binary cross-entropy of quality logits `[B, Q, K]` for the (detached) keypoints `[B, Q, K, 2]`."""
    t = torch.stack([quality_targets(k.detach(), tgt) for k, tgt in zip(keypoints, targets)])  # [B, Q, K]
    return F.binary_cross_entropy_with_logits(logits.float(), t)


def quality_scores(cls_logits: Tensor, quality_logits: Tensor) -> tuple[Tensor, Tensor]:
    """cls `[..., Q]`, quality `[..., Q, K]` logits -> person scores `[..., Q]`, joint scores `[..., Q, K]`
    (geometric means of the person probability and the quality, so that they stay probabilities)."""
    p, q = cls_logits.float().sigmoid(), quality_logits.float().sigmoid()
    return (p * q.mean(-1)).sqrt(), (p[..., None] * q).sqrt()
