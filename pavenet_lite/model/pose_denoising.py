"""Contrastive pose denoising (training only; not in the paper; DN-DETR / DINO, kept on by ED-Pose).

A from-scratch DETR spends most of its early training on two slow lessons: where a person's joints are, given a
pose near it, and which of two near-identical poses is the person. Denoising teaches both directly. Each clip's
ground-truth poses are copied into extra "denoising" queries in two versions:

* positives: every annotated joint moved by less than `noise` x s per coordinate (s = sqrt(person area), the OKS
  scale): reconstruct the person, classify "person";
* negatives: every joint moved by between `noise` and 2 x `noise` x s per coordinate: classify "no person" (the
  near-miss duplicate the matching queries must learn to reject).

A row of denoising queries holds the positives of a clip's G people in slots 0..G_max-1 and their negatives in
slots G_max..2 G_max-1 (G_max = most people of a clip in the batch); slots of absent people hold random-pose
negatives. The rows are folded into the batch like query groups, `dn_groups` rows per clip, so the denoising
queries never attend to the matching queries nor to another group's (DINO's attention mask, as batch structure);
the matching queries' outputs are exactly what they are without denoising. Their content and position embeddings
are two learned vectors: the noised pose is all the query knows. The losses use the known pairing instead of the
Hungarian matching (`SetCriterion`, terms `loss_*_dn_<layer>`).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


class PoseDenoising(nn.Module):
    """The learned content and position of the denoising queries, and their noised reference poses."""

    def __init__(self, hidden_dim: int, groups: int, noise: float):
        super().__init__()
        self.groups, self.noise = groups, noise
        self.embed = nn.Embedding(1, 2 * hidden_dim)

    def forward(self, targets: list[dict[str, Tensor]]) -> tuple[Tensor, Tensor, Tensor] | None:
        """targets: B dicts with "keypoints" `[G_b, K, 2]` (normalised), "annotated" `[G_b, K]`, "areas" `[G_b]`.

        Returns (query `[B * dn_groups, 2 G_max, C]`, query_pos `[B * dn_groups, 2 G_max, C]`, reference
        `[B * dn_groups, 2 G_max, K, 2]`), rows b * dn_groups + g, or None when the batch has nobody.
        """
        G_max = max(len(t["keypoints"]) for t in targets)
        if G_max == 0:
            return None
        device = self.embed.weight.device
        rows = [noised_poses(t["keypoints"].to(device), t["annotated"].to(device).bool(), t["areas"].to(device),
                             G_max, self.noise) for t in targets for _ in range(self.groups)]
        reference = torch.stack(rows)                                               # [B * groups, 2 G_max, K, 2]
        query_pos, query = self.embed.weight.view(2, -1).expand(*reference.shape[:2], 2, -1).unbind(2)
        return query, query_pos, reference


def noised_poses(keypoints: Tensor, annotated: Tensor, areas: Tensor, slots: int, noise: float) -> Tensor:
    """One row of denoising reference poses `[2 * slots, K, 2]` in [0, 1] for a clip's people.

    keypoints `[G, K, 2]`, annotated `[G, K]`, areas `[G]` (normalised), G <= slots. Rows 0..G-1: positives of
    person g (per-coordinate noise in (-noise s, noise s)); rows slots..slots+G-1: negatives (|noise| in
    [noise s, 2 noise s)); other rows: a random person's shape centred at a random place (negatives). Joints that
    are not annotated sit at the mean of the annotated ones (their output is never supervised).
    """
    G, K = keypoints.shape[:2]
    device = keypoints.device
    weight = annotated.float()[..., None]                                        # [G, K, 1]
    centre = (keypoints * weight).sum(1) / weight.sum(1).clamp(min=1)            # [G, 2]
    filled = torch.where(annotated[..., None], keypoints.float(), centre[:, None])  # [G, K, 2]
    scale = areas.float().clamp(min=1e-6).sqrt()[:, None, None] * noise          # [G, 1, 1]
    u = torch.rand(2, G, K, 2, device=device)
    sign = torch.where(torch.rand(G, K, 2, device=device) < 0.5, -1.0, 1.0)
    positives = filled + (2 * u[0] - 1) * scale                                  # |shift| < noise s
    negatives = filled + sign * (1 + u[1]) * scale                               # noise s <= |shift| < 2 noise s
    out = torch.rand(2 * slots, K, 2, device=device) * 0.5 + 0.25                # nobody: a blob near the middle
    if G > 0:
        free = [i for i in range(2 * slots) if not (i < G or slots <= i < slots + G)]
        pick = torch.randint(G, (len(free),), device=device)
        shape = filled[pick] - centre[pick][:, None]                             # [len(free), K, 2]
        out[free] = shape + torch.rand(len(free), 1, 2, device=device)
        out[:G], out[slots:slots + G] = positives, negatives
    return out.clamp(0.0, 1.0)


def denoising_matches(targets: list[dict[str, Tensor]], groups: int) -> list[tuple[Tensor, Tensor]]:
    """The known pairing of the denoising rows: row b * groups + g, query i <-> person i of clip b, i < G_b."""
    return [(torch.arange(len(t["keypoints"])), torch.arange(len(t["keypoints"])))
            for t in targets for _ in range(groups)]
