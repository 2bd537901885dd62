"""Keypoint arithmetic shared by the matcher, the losses, the postprocess and the evaluation helpers.

One definition of each, as DETR keeps its box arithmetic in one small module that both the matcher and the model
import:

* `oks` / `pairwise_oks`: object keypoint similarity with the project's sigmas (`oks_sigmas`, model order);
* `keypoint_l1`: mean absolute coordinate error over annotated joints;
* `keypoint_areas`: the area of a pose's keypoint box, the OKS scale when a pose has no person box;
* `pixels_to_normalised` / `normalised_to_pixels`: the coordinate convention of the whole package.

Coordinates. Pixel coordinates are pixel centres: pixel (i, j) covers [j - 0.5, j + 0.5] x [i - 0.5, i + 0.5].
Normalised coordinates are edge-based and relative to the unpadded image: 0 and 1 are the outer edges of the first
and last pixel, as for the model's token grid and `grid_sample(align_corners=False)`. Hence
x_norm = (x_px + 0.5) / w and x_px = x_norm * w - 0.5. Dropping the 0.5 shifts every joint by half a pixel.

This module imports nothing from the rest of the package but the joint tables, so any module may import it.
"""
from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

from pavenet_lite.joints import MODEL_OKS_SIGMAS

Coords = TypeVar("Coords", Tensor, np.ndarray)


def oks_sigmas(num_keypoints: int | None = None, device: torch.device | str | None = None) -> Tensor:
    """The OKS sigmas of the first `num_keypoints` model joints (all K = 15 when None), float32 `[K]`."""
    return torch.as_tensor(MODEL_OKS_SIGMAS[:num_keypoints], dtype=torch.float32, device=device)


def oks(pred: Tensor, gt: Tensor, annotated: Tensor | None, areas: Tensor) -> Tensor:
    """Object keypoint similarity of poses in model joint order, in any one coordinate system.

    pred, gt `[..., K, 2]`, annotated `[..., K]` bool or None (every joint counts), areas `[...]` (the OKS scale
    s^2, in the coordinates' units squared), all broadcastable -> `[...]` in [0, 1]:
    OKS = mean over annotated joints of exp(-d^2 / (2 s^2 (2 sigma)^2)), 0 if no joint is annotated.
    Computed in float32. Coordinates normalised separately by width and height make this slightly anisotropic for
    non-square images, as in the official code.
    """
    sigmas = oks_sigmas(pred.shape[-2], pred.device)                                      # [K]
    d2 = (pred.float() - gt.float()).pow(2).sum(-1)                                      # [..., K]
    e = d2 / (2 * areas.float().clamp(min=1e-12)[..., None] * (2 * sigmas) ** 2)
    if annotated is None:
        return torch.exp(-e).mean(-1)
    sim = torch.where(annotated, torch.exp(-e), torch.zeros_like(e))
    return sim.sum(-1) / annotated.sum(-1).clamp(min=1)


def keypoint_areas(keypoints: Tensor) -> Tensor:
    """keypoints `[..., K, 2]` -> area of their bounding box `[...]`, at least 1e-6 (a single point has none)."""
    span = keypoints.amax(-2) - keypoints.amin(-2)                                        # [..., 2]
    return (span[..., 0] * span[..., 1]).clamp(min=1e-6)


def pairwise_oks(keypoints: Tensor) -> Tensor:
    """keypoints `[B, M, K, 2]` -> OKS of every pair of poses `[B, M, M]`, every joint counted; the scale of a pair is
    the mean of the two poses' keypoint-box areas (`keypoint_areas`)."""
    kp = keypoints.float()
    area = keypoint_areas(kp)                                                            # [B, M]
    scale = (area[:, :, None] + area[:, None]) / 2                                        # [B, M, M]
    return oks(kp[:, :, None], kp[:, None], None, scale)


def keypoint_l1(pred: Tensor, gt: Tensor, annotated: Tensor) -> Tensor:
    """Mean absolute error over the annotated coordinates of each pose (the matcher's KptL1Cost).

    pred, gt `[..., K, 2]`, annotated `[..., K]` bool, broadcastable -> `[...]`. Divides by 2 * #annotated
    (clamped to 1), so a pose without annotated joints costs 0.
    """
    err = (pred.float() - gt.float()).abs().sum(-1)                        # [..., K]
    err = torch.where(annotated, err, torch.zeros_like(err))
    return err.sum(-1) / (2 * annotated.sum(-1)).clamp(min=1)


def _scale(like: Coords, w: float, h: float) -> Coords:
    return like.new_tensor([w, h]) if isinstance(like, Tensor) else np.array([w, h], dtype=np.float64)


def pixels_to_normalised(pixels: Coords, w: float, h: float) -> Coords:
    """Pixel-centre (x, y) `[..., 2]` of a w x h image -> edge-based normalised coordinates, same shape and kind
    (a tensor keeps its dtype; a NumPy array is computed in float64)."""
    return (pixels + 0.5) / _scale(pixels, w, h)


def normalised_to_pixels(normalised: Coords, w: float, h: float, clamp: bool = False) -> Coords:
    """Edge-based normalised (x, y) `[..., 2]` -> pixel-centre coordinates of a w x h image, same shape and kind;
    `clamp` keeps them on the image's pixels ([0, w - 1] x [0, h - 1]). Exact inverse of `pixels_to_normalised`
    up to rounding."""
    px = normalised * _scale(normalised, w, h) - 0.5
    if not clamp:
        return px
    if isinstance(px, Tensor):
        return torch.stack([px[..., 0].clamp(0, w - 1), px[..., 1].clamp(0, h - 1)], -1)
    return np.stack([px[..., 0].clip(0, w - 1), px[..., 1].clip(0, h - 1)], -1)
