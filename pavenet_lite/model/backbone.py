"""ResNet backbone (He et al. 2016) returning the C3, C4, C5 feature maps (strides 8, 16, 32).

Written here (no torchvision dependency) with torchvision's parameter names (`conv1`, `bn1`, `layer1..4`,
`downsample.0/1`), so a torchvision ImageNet state dict on disk loads with `load_backbone_weights`. A width
multiplier scales every channel count for the CPU presets (such a model cannot load ImageNet weights).

Frames are plain batch entries here: the model passes `[B * F, 3, H, W]` (frame-interleaved, image b * F + f).
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn


class BackboneWeightsError(ValueError):
    """A backbone weight file is missing, unreadable or does not fit the model."""


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm2d with fixed statistics and affine parameters (buffers named like torchvision's BatchNorm2d)."""

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[override]
        state_dict.pop(prefix + "num_batches_tracked", None)  # BatchNorm2d checkpoints carry it; we do not need it
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale[None, :, None, None] + shift[None, :, None, None]


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int, norm: type[nn.Module]):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = norm(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = norm(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(inplanes, planes * self.expansion, stride, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int, norm: type[nn.Module]):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = norm(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)  # stride on the 3x3, as torchvision
        self.bn2 = norm(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = norm(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(inplanes, planes * self.expansion, stride, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


def _downsample(inplanes: int, outplanes: int, stride: int, norm: type[nn.Module]) -> nn.Sequential | None:
    if stride == 1 and inplanes == outplanes:
        return None
    return nn.Sequential(nn.Conv2d(inplanes, outplanes, 1, stride, bias=False), norm(outplanes))


_LAYOUTS: dict[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
}


class ResNet(nn.Module):
    """ResNet-18/34/50: `[B', 3, H, W]` -> [C3 `[B', c3, H/8, W/8]`, C4 `[B', c4, H/16, W/16]`, C5 `[B', c5, H/32, W/32]`].

    `out_channels` lists (c3, c4, c5), `c2_channels` the width of layer1's output (`forward(x, with_c2=True)` puts
    C2 `[B', c2, H/4, W/4]` first). `frozen_stages` (mmdet semantics): -1 nothing frozen, 0 the stem,
    s >= 1 the stem and layer1..layer s. Frozen parameters have `requires_grad=False`.
    """

    def __init__(self, depth: int = 50, width: float = 1.0, frozen_bn: bool = False, frozen_stages: int = -1):
        super().__init__()
        self.depth, self.width = depth, width
        block, counts = _LAYOUTS[depth]
        norm: type[nn.Module] = FrozenBatchNorm2d if frozen_bn else nn.BatchNorm2d
        widths = [max(8, int(round(w * width))) for w in (64, 128, 256, 512)]
        stem = widths[0]
        self.conv1 = nn.Conv2d(3, stem, 7, 2, 3, bias=False)
        self.bn1 = norm(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = stem
        for i, (planes, count) in enumerate(zip(widths, counts)):
            blocks = []
            for j in range(count):
                blocks.append(block(inplanes, planes, 2 if (j == 0 and i > 0) else 1, norm))
                inplanes = planes * block.expansion
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.out_channels = tuple(w * block.expansion for w in widths[1:])
        self.c2_channels = widths[0] * block.expansion
        self._freeze(frozen_stages)

    def _freeze(self, frozen_stages: int) -> None:
        modules: list[nn.Module] = []
        if frozen_stages >= 0:
            modules += [self.conv1, self.bn1]
        modules += [getattr(self, f"layer{i}") for i in range(1, min(frozen_stages, 4) + 1)]
        for m in modules:
            for p in m.parameters():
                p.requires_grad_(False)

    def forward(self, x: torch.Tensor, with_c2: bool = False) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # [B', c, H/4, W/4]
        c2 = self.layer1(x)   # [B', c2, H/4, W/4]
        c3 = self.layer2(c2)  # [B', c3, H/8, W/8]
        c4 = self.layer3(c3)  # [B', c4, H/16, W/16]
        c5 = self.layer4(c4)  # [B', c5, H/32, W/32]
        return [c2, c3, c4, c5] if with_c2 else [c3, c4, c5]


class LoadReport(NamedTuple):
    """Keys of the backbone absent from the file (`missing`) and keys of the file not used (`unexpected`)."""

    missing: list[str]
    unexpected: list[str]


def resnet_depth(state: dict[str, torch.Tensor]) -> int | None:
    """Depth of the ResNet whose torchvision-named state dict is `state` (blocks per stage and block type), or None
    when the keys do not form a known ResNet (18, 34, 50, 101, 152)."""
    blocks = [len({k.split(".")[1] for k in state if k.startswith(f"layer{i}.") and k.count(".") >= 2})
              for i in range(1, 5)]
    bottleneck = any(k.startswith("layer1.0.conv3.") for k in state)
    known = {(False, (2, 2, 2, 2)): 18, (False, (3, 4, 6, 3)): 34, (True, (3, 4, 6, 3)): 50,
             (True, (3, 4, 23, 3)): 101, (True, (3, 8, 36, 3)): 152}
    return known.get((bottleneck, tuple(blocks)))


def load_backbone_weights(model: ResNet, path: str | Path, strict: bool = False) -> LoadReport:
    """Load a torchvision ImageNet ResNet state dict from `path` into `model` (never downloads).

    The classifier (`fc.*`) is dropped silently; `module.` / `backbone.` prefixes are stripped. Raises
    `BackboneWeightsError` naming the file when it is missing, is not a state dict, holds a ResNet of another depth,
    or a tensor has the wrong shape (e.g. a width multiplier != 1). Returns the missing / unexpected keys (also
    frozen-BN buffers count). `strict` (training from ImageNet): a width != 1 model, a missing backbone tensor or a
    tensor that is not ResNet's (e.g. a whole detector checkpoint) is an error too.
    """
    path = Path(path)
    if strict and model.width != 1.0:
        raise BackboneWeightsError(f"{path}: ImageNet weights need a full-width ResNet, this model has width "
                                   f"multiplier {model.width} (use the 'small' or 'paper' preset)")
    if not path.is_file():
        raise BackboneWeightsError(f"{path}: backbone weight file not found (expected a torchvision ResNet .pth)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or pickled-object files
        raise BackboneWeightsError(f"{path}: cannot read as a tensor state dict ({exc})") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BackboneWeightsError(f"{path}: expected a dict of tensors (a ResNet state_dict)")
    cleaned: dict[str, torch.Tensor] = {}
    for k, v in state.items():
        for prefix in ("module.", "backbone."):
            k = k.removeprefix(prefix)
        if not k.startswith("fc."):
            cleaned[k] = v
    depth = resnet_depth(cleaned)
    if depth is not None and depth != model.depth:
        raise BackboneWeightsError(f"{path}: holds a ResNet-{depth}, the model's backbone is a ResNet-{model.depth} "
                                   f"(PAVENetConfig.backbone_depth)")
    own = model.state_dict()
    for k, v in cleaned.items():
        if k in own and own[k].shape != v.shape:
            raise BackboneWeightsError(f"{path}: tensor {k!r} has shape {tuple(v.shape)}, the backbone expects "
                                       f"{tuple(own[k].shape)} (depth or width multiplier differs)")
    result = model.load_state_dict(cleaned, strict=False)
    unexpected = [k for k in result.unexpected_keys if not k.endswith("num_batches_tracked")]
    if strict and (unexpected or result.missing_keys):
        what = (f"{len(unexpected)} tensors that are not ResNet weights (e.g. {unexpected[0]!r}; an official "
                "PETR / PAVE-Net checkpoint goes through `pavenet convert`)" if unexpected
                else f"no {result.missing_keys[0]!r} (and {len(result.missing_keys) - 1} more backbone tensors)")
        raise BackboneWeightsError(f"{path}: not a torchvision ResNet-{model.depth} state dict: it has {what}")
    return LoadReport(missing=list(result.missing_keys), unexpected=unexpected)
