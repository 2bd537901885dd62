"""Prediction heads shared by the proposals, the pose decoder and the joint decoder.

* person score: Linear(C -> 1) with the focal-loss prior bias (p = 0.01 at start);
* keypoint refinement: an MLP whose output is added in logit space to the current estimate,
  r_new = sigmoid(MLP(h) + logit(r)), so each layer predicts a correction of the previous one;
* sigma (RLE scale per coordinate): Linear -> ReLU -> Linear -> ReLU -> Linear -> sigmoid. The official branch has
  no activations between its three Linear layers, i.e. it is one linear map; we add ReLUs.

Initialisation choice: the last Linear of a refinement MLP gets near-zero weights (std 1e-3) and a zero bias. That
starts every refinement at (almost) the identity like the official zero init, but unlike an exact zero init it lets
the hidden layers receive gradient from the first step.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """logit(x) with x clamped to [eps, 1 - eps] so references at the border stay finite."""
    x = x.float().clamp(eps, 1 - eps)
    return torch.log(x / (1 - x))


class MLP(nn.Module):
    """`num_layers` Linear layers with ReLU in between: `[..., in_dim]` -> `[..., out_dim]`."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int):
        super().__init__()
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x


class KeypointRefine(nn.Module):
    """h `[..., C]`, reference `[..., K, 2]` in [0, 1] -> refined `[..., K, 2]` = sigmoid(MLP(h) + logit(reference))."""

    def __init__(self, hidden_dim: int, mlp_dim: int, num_keypoints: int, num_layers: int):
        super().__init__()
        self.num_keypoints = num_keypoints
        self.mlp = MLP(hidden_dim, mlp_dim, num_keypoints * 2, num_layers)
        last = self.mlp.layers[-1]
        nn.init.normal_(last.weight, std=1e-3)
        nn.init.zeros_(last.bias)

    def forward(self, h: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        delta = self.mlp(h).view(*h.shape[:-1], self.num_keypoints, 2)
        return torch.sigmoid(delta.float() + inverse_sigmoid(reference))


class SigmaHead(nn.Module):
    """h `[..., C]` -> RLE sigma `[..., K, 2]` in (0, 1)."""

    def __init__(self, hidden_dim: int, num_keypoints: int):
        super().__init__()
        self.num_keypoints = num_keypoints
        self.mlp = MLP(hidden_dim, hidden_dim, num_keypoints * 2, 3)
        nn.init.xavier_uniform_(self.mlp.layers[-1].weight, gain=0.01)
        nn.init.zeros_(self.mlp.layers[-1].bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.mlp(h).float()).view(*h.shape[:-1], self.num_keypoints, 2)


def score_head(hidden_dim: int, prior: float = 0.01) -> nn.Linear:
    """Linear(C -> 1) whose bias makes sigmoid(logit) = `prior` at start (focal-loss initialisation)."""
    head = nn.Linear(hidden_dim, 1)
    nn.init.constant_(head.bias, -math.log((1 - prior) / prior))
    return head
