"""From model outputs to people in original-frame pixels: top-k per clip, per-keypoint scores, no NMS.

Keypoints come from the joint decoder's last layer (the pose decoder's last layer when the model has no joint
decoder). Normalised coordinates are edge-based and relative to the unpadded input, which is the original frame
resized with its aspect ratio kept, so x_pixel = x * orig_w - 0.5 and y_pixel = y * orig_h - 0.5 (pixel centres at
integers; `size` is not needed for the mapping; `keypoint_ops.normalised_to_pixels`).

Per-keypoint confidence as Poseur / the official head (docs/paper.md):
p = 0.7 * (1 - exp(-0.2 / sigma_x)) * (1 - exp(-0.2 / sigma_y)); keypoint score = person score * p. The official
code also multiplies the coordinates by p^5 / (p^5 + 1e-10), which only moves joints with p ~ 0 to the origin;
we leave coordinates untouched. OKS-NMS (threshold 0.45) is off by default: PAVE-Net is NMS-free; the flag exists
to compare with the July-2025 official code.
"""
from __future__ import annotations

from typing import Any

import torch

from pavenet_lite.keypoint_ops import keypoint_areas, normalised_to_pixels, oks


def keypoint_confidence(sigmas: torch.Tensor) -> torch.Tensor:
    """sigmas `[..., K, 2]` in (0, 1) -> p `[..., K]` in (0, 0.7)."""
    s = sigmas.clamp(min=1e-6)
    return 0.7 * (1 - torch.exp(-0.2 / s[..., 0])) * (1 - torch.exp(-0.2 / s[..., 1]))


def oks_nms_indices(keypoints: torch.Tensor, scores: torch.Tensor, threshold: float = 0.45) -> torch.Tensor:
    """Greedy OKS-NMS: keypoints `[P, K, 2]` pixels, scores `[P]` -> kept indices (by descending score).

    OKS (`keypoint_ops.oks`) over all joints, scale = mean of the two poses' keypoint-box areas.
    """
    order = scores.argsort(descending=True)
    areas = keypoint_areas(keypoints)                                           # [P]
    keep: list[int] = []
    while order.numel() > 0:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        similarity = oks(keypoints[rest], keypoints[i], None, (areas[rest] + areas[i]) / 2)  # [R]
        order = rest[similarity <= threshold]
    return torch.tensor(keep, dtype=torch.long)


@torch.no_grad()
def postprocess(outputs: dict[str, Any], targets_or_sizes: list[dict[str, Any]] | torch.Tensor,
                top_k: int | None = None, oks_nms: bool = False) -> list[dict[str, torch.Tensor]]:
    """Per clip the `top_k` highest-scoring refined people (all refined people when None).

    targets_or_sizes: the target dicts (their `orig_size` (h, w) is used) or a `[B, 2]` tensor of (h, w) original
    sizes. Returns B dicts: "scores" `[k]`, "keypoints" `[k, K, 2]` (x, y original-frame pixels, clamped to the
    frame), "keypoint_scores" `[k, K]`, "boxes" `[k, 4]` xyxy keypoint extent, "query_index" `[k]`.
    """
    if isinstance(targets_or_sizes, torch.Tensor):
        orig = targets_or_sizes
    else:
        orig = torch.stack([torch.as_tensor(t["orig_size"]) for t in targets_or_sizes])
    logits = outputs["pred_logits"].detach().float()
    B = logits.shape[0]
    if outputs.get("refine_outputs"):
        last = outputs["refine_outputs"][-1]
        batch_index, query_index = outputs["refine_batch_index"], outputs["refine_query_index"]
        kpts_all, sig_all = last["pred_keypoints"].float(), last["pred_sigmas"].float()
    else:  # no joint decoder: every pose query is a candidate
        Q = logits.shape[1]
        batch_index = torch.arange(B, device=logits.device).repeat_interleave(Q)
        query_index = torch.arange(Q, device=logits.device).repeat(B)
        kpts_all = outputs["pred_keypoints"].float().flatten(0, 1)
        sig_all = outputs["pred_sigmas"].float().flatten(0, 1)
    results = []
    for b in range(B):
        rows = (batch_index == b).nonzero().squeeze(1)
        scores = logits[b, query_index[rows]].sigmoid()
        order = scores.argsort(descending=True)
        if top_k is not None:
            order = order[:top_k]
        rows, scores = rows[order], scores[order]
        h, w = (float(v) for v in orig[b])
        kpts = normalised_to_pixels(kpts_all[rows], w, h, clamp=True).cpu()
        scores = scores.cpu()
        if oks_nms and len(rows) > 0:
            keep = oks_nms_indices(kpts, scores)
            rows, scores, kpts = rows[keep.to(rows.device)], scores[keep], kpts[keep]
        kp_scores = scores[:, None] * keypoint_confidence(sig_all[rows]).cpu()
        boxes = torch.cat([kpts.amin(1), kpts.amax(1)], -1) if len(rows) else torch.zeros(0, 4)
        results.append({"scores": scores, "keypoints": kpts, "keypoint_scores": kp_scores, "boxes": boxes,
                        "query_index": query_index[rows].cpu()})
    return results
