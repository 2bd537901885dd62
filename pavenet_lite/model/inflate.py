"""Image-to-video initialisation: start an F-frame PAVE-Net from the weights of a model trained with another F.

The paper does not train PAVE-Net from scratch: it starts from image-model (PETR) weights and fine-tunes on video
(docs/paper.md). The same works inside this package: train the F = 1 image baseline, which is about 4x cheaper
per clip, then inflate it to F = 3. Only two kinds of parameters depend on F:

* `FrameLinear` weights `[F, C_in, C_out]` and biases `[F, C_out]` (offsets and attention logits of pose-aware and
  multi-frame deformable attention);
* the per-frame keypoint refiners `refine.{d}.{f}` of the pose and joint decoders.

Frame f of the new model copies frame f - c_new + c_old of the old one (c = F // 2, the centre), clamped to the old
range: an image model's single frame goes to every frame. With copied attention logits the joint softmax over
F * L * K spreads each head's mass evenly over the frames, so on a clip of F identical frames the inflated model
computes exactly what the image model computes on that frame (tested); training then teaches it to use the motion.
"""
from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn

from pavenet_lite.model.deformable_attention import FrameLinear

_REFINE = re.compile(r"(^|\.)refine\.(\d+)\.(\d+)\.")


def frame_map(new_frames: int, old_frames: int) -> list[int]:
    """For each frame of an F = `new_frames` clip, the frame of an F = `old_frames` clip it copies (centres aligned)."""
    shift = old_frames // 2 - new_frames // 2
    return [min(max(f + shift, 0), old_frames - 1) for f in range(new_frames)]


def inflate_state_dict(old: dict[str, torch.Tensor], old_frames: int, model: nn.Module, new_frames: int
                       ) -> dict[str, torch.Tensor]:
    """A state dict for `model` (an F = `new_frames` PAVE-Net) built from `old`, the state dict of an F = `old_frames`
    model of the same architecture otherwise. Raises ValueError naming every parameter that cannot be filled."""
    frame_linear = {f"{name}.{p}" for name, m in model.named_modules() if isinstance(m, FrameLinear)
                    for p in ("weight", "bias")}
    refine_frames = frame_map(new_frames, old_frames)
    new: dict[str, torch.Tensor] = {}
    problems: list[str] = []
    for key, target in model.state_dict().items():
        match = _REFINE.search(key)
        source_key = key
        if match:
            f_old = refine_frames[int(match.group(3))]
            source_key = key[:match.start(3)] + str(f_old) + key[match.end(3):]
            if source_key not in old:  # the last layer refines only the centre frame
                source_key = key[:match.start(3)] + str(old_frames // 2) + key[match.end(3):]
        if source_key not in old and key.startswith(("heatmap_head.", "denoising.")):
            new[key] = target.clone()  # a training-only part that the source run did not have starts fresh
            continue
        if source_key not in old:
            problems.append(f"{key}: missing (looked for {source_key!r})")
            continue
        value = old[source_key]
        if key in frame_linear and value.shape[0] != target.shape[0]:
            value = value[frame_map(target.shape[0], value.shape[0])]                  # [F_new, ...]
        if value.shape != target.shape:
            problems.append(f"{key}: shape {tuple(value.shape)}, the model expects {tuple(target.shape)}")
            continue
        new[key] = value.clone()
    if problems:
        raise ValueError(f"cannot initialise an F = {new_frames} model from F = {old_frames} weights: "
                         + "; ".join(problems[:8]) + (f" (and {len(problems) - 8} more)" if len(problems) > 8 else ""))
    return new


def init_from_checkpoint(model: nn.Module, state: dict[str, Any], new_frames: int, path: str = "checkpoint") -> int:
    """Load the weights of a pavenet_lite checkpoint dict into `model`, inflating over frames if F differs.

    Returns the F of the checkpoint. Errors name `path` and what does not fit.
    """
    old_frames = int(state["config"]["num_frames"])
    try:
        weights = inflate_state_dict(state["model"], old_frames, model, new_frames)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    model.load_state_dict(weights)
    return old_frames
