"""Attention capture: where every deformable attention looked, in pixels, and how much each sample weighed.

`PAVENet.forward(clips, masks, return_attention=True)` adds `outputs["attention"]`, a dict of detached tensors:

| key | content |
|---|---|
| `"encoder"` | list (one per encoder layer) of {"locations" `[B, F, N, M, L, P, 2]`, "weights" `[B, F, N, M, L, P]`}: token n of frame f samples only its own frame |
| `"pose_decoder"` | list (one per pose layer) of {"locations" `[B, Q, M, F, L, K, 2]`, "weights" `[B, Q, M, F, L, K]`}: pose query q, point k is anchored on keypoint k |
| `"joint_decoder"` | list (one per joint layer) of {"locations" `[R, K, M, F, L, P, 2]`, "weights" `[R, K, M, F, L, P]`}: refined person r (see `refine_batch_index` / `refine_query_index`), joint query j; with `cfg.fine_level` L + 1 levels, the last one the stride-4 map (`fine_level.py`) |
| `"level_shapes"` | list of L (H_l, W_l) feature-map sizes; token n of level l is `level_start[l] + i * W_l + j` |
| `"level_start"` | list of L offsets into the N tokens |
| `"image_sizes"` | `[B, 2]` (w, h) unpadded input size in pixels |

Locations are (x, y) in pixels of the UNPADDED INPUT image (the network input after resizing, not the original
frame; scale by `orig_size / size` for the original). Samples may fall outside the image (they read zeros) or in the
padding. The weights of one head of one query sum to 1 over F * L * P (the decoders' single cross-frame softmax);
in the encoder F is not summed over (each frame attends to itself only).
"""
from __future__ import annotations

import torch


def image_sizes(masks: torch.Tensor) -> torch.Tensor:
    """masks `[B, H, W]` (True = padding, bottom/right) -> `[B, 2]` (w, h) of the unpadded image in pixels."""
    return torch.stack([(~masks[:, 0, :]).sum(1), (~masks[:, :, 0]).sum(1)], -1)


def to_pixels(locations: torch.Tensor, ratios: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
    """Padded-level normalised locations `[B, ..., L, P, 2]` -> pixels of the unpadded input, same shape.

    ratios `[B, L, 2]` valid ratios, sizes `[B, 2]` (w, h). Dividing by the level's valid ratio maps the padded
    level map back to (edge-based) normalised coordinates of the unpadded image; - 0.5 gives pixel centres.
    """
    B, L = ratios.shape[:2]
    lead = [1] * (locations.dim() - 4)
    r = ratios.view(B, *lead, L, 1, 2)
    s = sizes.to(locations.dtype).view(B, *lead, 1, 1, 2)
    return locations / r * s - 0.5
