"""Auxiliary joint heatmaps on the encoder memory: a training-only signal that teaches the encoder where joints are.

The official PAVE-Net config sets this loss to 0 because it fine-tunes a PETR checkpoint that was trained with it;
a model trained from scratch never gets that stage. Without it, the only gradient reaching the encoder comes
through Q sparse pose queries and the proposals' focal loss, and the encoder learns slowly (measured in
docs/benchmarks.md). With it, every token of the finest level (stride 8) of the centre frame is told, for every
joint type k, whether a joint k lies near it (CenterNet, Zhou et al. 2019):

    logits = Conv1x1(ReLU(Conv3x3(memory level 0)))                      # [B, K, H_0, W_0]
    target = max over people of exp(-d^2 / (2 sigma^2)), d = distance in cells to the person's joint k,
             the Gaussian centred on the joint's nearest cell, so that cell has target exactly 1
    loss   = penalty-reduced focal loss, summed over unpadded cells, / number of peaks

The head is built only when `cfg.loss_hm > 0` and runs only in training: inference, the decoders and every other
output are unchanged by it.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# One cell of the stride-8 level: at 192 px the joints of a person are 1-3 cells apart, so wider blobs would merge.
HEATMAP_SIGMA = 1.0


class JointHeatmapHead(nn.Module):
    """Finest-level memory of the centre frame `[B, H_0 * W_0, C]` -> joint logits `[B, K, H_0, W_0]`."""

    def __init__(self, hidden_dim: int, num_keypoints: int):
        super().__init__()
        self.conv = nn.Conv2d(hidden_dim, hidden_dim, 3, padding=1)
        self.out = nn.Conv2d(hidden_dim, num_keypoints, 1)
        nn.init.constant_(self.out.bias, -math.log(99.0))  # p = 0.01 at start, as the score heads

    def forward(self, tokens: Tensor, shape: tuple[int, int]) -> Tensor:
        B, _, C = tokens.shape
        x = tokens.transpose(1, 2).reshape(B, C, *shape)                       # [B, C, H_0, W_0]
        return self.out(torch.relu(self.conv(x)))                              # [B, K, H_0, W_0]


def heatmap_targets(keypoints: Tensor, annotated: Tensor, ratio: Tensor, shape: tuple[int, int],
                    sigma: float = HEATMAP_SIGMA) -> Tensor:
    """Gaussian joint heatmaps of one clip's centre frame.

    keypoints `[G, K, 2]` normalised to the unpadded image (x, y), annotated `[G, K]` bool, ratio `[2]` the level's
    valid ratio (x, y), shape (H_0, W_0) -> `[K, H_0, W_0]` in [0, 1]. Cell (i, j) has its centre at
    ((j + 0.5) / (ratio_x W_0), (i + 0.5) / (ratio_y H_0)) in normalised coordinates (`token_centres`), so a joint
    at x lies in cell x * ratio_x * W_0 - 0.5 (rounded). Joints whose cell falls outside the map are skipped.
    """
    H, W = shape
    K = keypoints.shape[1]
    scale = ratio.float() * torch.tensor([W, H], dtype=torch.float32, device=keypoints.device)
    cells = torch.round(keypoints.float() * scale - 0.5)                       # [G, K, 2]
    inside = annotated & (cells >= 0).all(-1) & (cells[..., 0] < W) & (cells[..., 1] < H)
    ys = torch.arange(H, dtype=torch.float32, device=keypoints.device)
    xs = torch.arange(W, dtype=torch.float32, device=keypoints.device)
    dx2 = (xs - cells[..., 0, None]).pow(2)                                    # [G, K, W]
    dy2 = (ys - cells[..., 1, None]).pow(2)                                    # [G, K, H]
    blobs = torch.exp(-(dy2[..., :, None] + dx2[..., None, :]) / (2 * sigma ** 2))  # [G, K, H, W]
    blobs = blobs * inside[..., None, None]
    if blobs.shape[0] == 0:
        return blobs.new_zeros(K, H, W)
    return blobs.amax(0)


def heatmap_focal_loss(logits: Tensor, targets: Tensor, valid: Tensor, alpha: float = 2.0,
                       beta: float = 4.0) -> Tensor:
    """CenterNet's penalty-reduced focal loss, summed over valid cells; the caller divides by #peaks.

    logits, targets `[B, K, H, W]` (targets in [0, 1], peaks == 1), valid `[B, H, W]` bool (False = padding).
    Peak cells: -(1 - p)^alpha log p; other cells: -(1 - t)^beta p^alpha log(1 - p), so cells next to a joint are
    barely penalised for firing.
    """
    logits, targets = logits.float(), targets.float()
    p = logits.sigmoid()
    peak = targets == 1.0
    pos = -(1 - p).pow(alpha) * F.logsigmoid(logits)
    neg = -(1 - targets).pow(beta) * p.pow(alpha) * F.logsigmoid(-logits)
    per_cell = torch.where(peak, pos, neg) * valid[:, None]
    return per_cell.sum()


def heatmap_loss(outputs: dict[str, Tensor], targets: list[dict[str, Tensor]]) -> tuple[Tensor, Tensor]:
    """Unnormalised focal sum and #peaks of the model's `outputs["heatmap"]` against the targets' centre frames.

    outputs["heatmap"]: {"logits" `[B, K, H_0, W_0]`, "valid" `[B, H_0, W_0]`, "ratios" `[B, 2]`}.
    """
    logits, valid, ratios = outputs["logits"], outputs["valid"], outputs["ratios"]
    shape = (int(logits.shape[-2]), int(logits.shape[-1]))
    maps = torch.stack([heatmap_targets(t["keypoints"].to(logits.device), t["annotated"].to(logits.device).bool(),
                                        r, shape) for t, r in zip(targets, ratios)])  # [B, K, H_0, W_0]
    peaks = ((maps == 1.0) & valid[:, None]).sum()
    return heatmap_focal_loss(logits, maps, valid), peaks
