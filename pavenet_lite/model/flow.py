"""RealNVP normalising flow: the learned residual density of RLE (residual log-likelihood) regression.

RLE models the normalised residual u = (mu_hat - mu) / sigma of each joint with a learned 2-D density
phi(u) = N(f^{-1}(u); prior) |det d f^{-1} / du| (Li et al., "Human Pose Regression with Residual Log-likelihood
Estimation", 2021). The flow is only needed for the loss; inference uses mu_hat and sigma alone.

Deviations from the official code, on purpose: the weights are initialised (the official `RealNVP._init` is never
called) so that the flow starts near the identity, and the prior mean is a parameter defaulting to 0 (the official
prior has mean 0.5, which the RLE derivation does not call for).
"""
from __future__ import annotations

import math

import torch
from torch import nn


def _mlp(final_tanh: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(2, 64), nn.LeakyReLU(), nn.Linear(64, 64), nn.LeakyReLU(), nn.Linear(64, 2)]
    if final_tanh:
        layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class RealNVP(nn.Module):
    """2-D RealNVP with `num_layers` affine couplings alternating masks [0, 1] / [1, 0].

    `log_prob(u)`: u `[..., 2]` -> log density `[...]`.
    """

    def __init__(self, num_layers: int = 6, prior_mean: float = 0.0):
        super().__init__()
        masks = torch.tensor([[0.0, 1.0], [1.0, 0.0]] * (num_layers // 2))
        self.register_buffer("masks", masks, persistent=False)  # [num_layers, 2]
        self.register_buffer("prior_mean", torch.full((2,), float(prior_mean)), persistent=False)
        self.s = nn.ModuleList(_mlp(final_tanh=True) for _ in range(num_layers))
        self.t = nn.ModuleList(_mlp(final_tanh=False) for _ in range(num_layers))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight, gain=0.01)
                nn.init.zeros_(m.bias)

    def inverse(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Map data u `[..., 2]` to the prior's space: returns z `[..., 2]` and log|det dz/du| `[...]`."""
        z = u
        log_det = u.new_zeros(u.shape[:-1])
        for i in reversed(range(len(self.s))):
            mask = self.masks[i]
            z_fixed = z * mask
            s = self.s[i](z_fixed) * (1 - mask)
            t = self.t[i](z_fixed) * (1 - mask)
            z = z_fixed + (1 - mask) * (z - t) * torch.exp(-s)
            log_det = log_det - s.sum(-1)
        return z, log_det

    def log_prob(self, u: torch.Tensor) -> torch.Tensor:
        """Log density of u `[..., 2]` under the flow, computed in float32 (AMP-safe): returns `[...]`."""
        u = u.float()
        z, log_det = self.inverse(u)
        d = z - self.prior_mean
        log_prior = -0.5 * (d * d).sum(-1) - math.log(2 * math.pi)
        return log_prior + log_det
