"""Exponential moving average (EMA) of the weights: what validation, `best.pt` and exported checkpoints use.

A DETR-style model trained at a high learning rate jitters from step to step; the average of the recent weights
predicts better than any single one of them (Polyak averaging). After every optimizer step,

    ema = d * ema + (1 - d) * weights,    d = min(decay, (1 + n) / (10 + n)),  n = number of updates so far,

so the average forgets its random start quickly (d is small early) and then spans about 1 / (1 - decay) steps.
Every floating-point entry of the state dict is averaged, buffers such as BatchNorm statistics included; integer
buffers are copied.
"""
from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class ModelEMA:
    """Keeps `self.model`, an averaged copy of `model` in eval mode that never receives gradients."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ModelEMA: decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def rate(self) -> float:
        """The weight d of the old average at the next update."""
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = self.rate()
        self.updates += 1
        live = model.state_dict()
        for name, avg in self.model.state_dict().items():
            if avg.dtype.is_floating_point:
                avg.mul_(d).add_(live[name].detach().to(avg.dtype), alpha=1 - d)
            else:
                avg.copy_(live[name])
