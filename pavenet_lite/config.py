"""PAVE-Net hyperparameters: one dataclass, three presets.

Every knob of the model, the matcher/loss weights and the optimizer lives in `PAVENetConfig`, so a checkpoint stores
one dict (`to_dict`) that rebuilds the exact model (`from_dict`). Presets:

* `tiny`  - CPU teaching model: ResNet-18 at width 0.25, C = 64, 2 encoder / 2 pose / 1 joint layers, Q = 30,
  3 levels, 192 px. Trains on SynthTrack in minutes.
* `small` - single-GPU course lab: ResNet-18 at full width, C = 128, 3 / 3 / 2 layers, Q = 100, 4 levels, 512 px.
* `paper` - the official R50 setting (docs/paper.md): C = 256, 6 / 3 / 2 layers, Q = 300, 4 levels, 8 heads,
  4 encoder points, K pose-aware points, 4 joint points, 1333 px, AdamW 2e-5.

F = `num_frames` is any odd number >= 1; F = 1 is the image-only (PETR-style) baseline.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
import typing
from dataclasses import dataclass, field
from typing import Any

from pavenet_lite.joints import K as NUM_JOINTS


# Names of the training augmentations (`data.transforms.AUGMENTATIONS`; kept here so that configs load without torch).
AUGMENT_NAMES = ("full", "light")


class ConfigError(ValueError):
    """A configuration (preset name, override or checkpoint dict) is invalid."""


@dataclass
class PAVENetConfig:
    # Backbone (ResNet, torchvision parameter names).
    backbone_depth: int = 50                 # 18, 34 or 50
    backbone_width: float = 1.0              # channel multiplier; != 1 cannot load ImageNet weights
    backbone_frozen_bn: bool = True          # FrozenBatchNorm2d (statistics and affine fixed)
    backbone_frozen_stages: int = 1          # mmdet semantics: -1 none, 0 stem, 1 stem + layer1, ...
    # Transformer.
    hidden_dim: int = 256                    # C
    ffn_dim: int = 1024
    dropout: float = 0.1
    num_levels: int = 4                      # L (strides 8, 16, 32, 64, ...)
    num_heads: int = 8                       # M
    enc_points: int = 4                      # P of the spatial encoder
    enc_layers: int = 6
    pose_layers: int = 3                     # spatiotemporal pose decoder; its P = K (pose-aware points)
    pose_anchor: str = "per_frame"           # "per_frame" (pose-aware) or "centre" (ablation: no motion tracking)
    pose_last_all_frames: bool = False       # non-centre refiners after the last pose layer too (official weights)
    joint_layers: int = 2                    # joint decoder (0 disables it)
    joint_points: int = 4                    # P of the joint decoder, per frame / level / head
    fine_level: bool = False                 # a stride-4 level for the joint decoder and heatmaps (fine_level.py)
    num_queries: int = 300                   # Q
    num_groups: int = 1                      # query groups of Q in training (Group DETR); inference uses one
    dn_groups: int = 0                       # rows of pose-denoising queries per clip in training (0: off)
    dn_noise: float = 0.2                    # denoising noise, x sqrt(person area) per coordinate (pose_denoising.py)
    query_nms: float = 0.0                   # > 0: distinct queries, OKS threshold (model/query_selection.py)
    num_refine: int = 20                     # persons passed to the joint decoder at inference (top-k)
    num_keypoints: int = NUM_JOINTS          # K
    num_frames: int = 3                      # F = 2T + 1
    max_size: int = 1333                     # longest input side in pixels
    # Loss weights (docs/paper.md) and Hungarian matcher costs (§3).
    loss_cls: float = 0.5
    loss_rle: float = 1.0
    loss_l1: float = 0.0
    loss_oks: float = 0.0
    loss_neighbour: float = 0.0              # L1 on the other frames' estimates (not in the paper; see losses.py)
    loss_hm: float = 0.0                     # auxiliary joint heatmaps on the encoder (model/joint_heatmap.py)
    cost_cls: float = 2.0
    enc_repeats: int = 1                     # one-to-many matching of the encoder proposals (1: one-to-one, paper)
    cls_quality: float = 0.0                 # > 0: score targets (OKS / clip's best)^p, varifocal loss (losses.py)
    cost_kpt: float = 70.0
    cost_oks: float = 7.0
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    # Optimizer (AdamW) and schedule.
    lr: float = 2e-5
    weight_decay: float = 1e-4
    lr_mult: float = 0.1                     # for parameters whose name contains one of `lr_mult_keywords`
    lr_mult_keywords: tuple[str, ...] = ("backbone", "sampling_offsets", "reference_points")
    grad_clip: float = 0.1                   # max gradient norm
    accum_steps: int = 8                     # gradient accumulation (official: 1 clip x 8)
    epochs: int = 20
    lr_drop_epoch: int = 10
    ema_decay: float = 0.0                   # EMA of the weights for validation and export (0: off; see ema.py)
    augment: str = "full"                    # training augmentation, a name of data.transforms.AUGMENTATIONS
    name: str = field(default="paper")

    def __post_init__(self) -> None:
        _check_types(self)
        checks = [
            ("backbone_depth", self.backbone_depth in (18, 34, 50), "one of 18, 34, 50"),
            ("backbone_width", self.backbone_width > 0, "> 0"),
            ("num_frames", self.num_frames >= 1 and self.num_frames % 2 == 1, "an odd integer >= 1"),
            ("hidden_dim", self.hidden_dim % (2 * self.num_heads) == 0, "divisible by 2 * num_heads"),
            ("num_levels", self.num_levels >= 1, ">= 1"),
            ("enc_points", self.enc_points >= 1, ">= 1"),
            ("joint_points", self.joint_points >= 1, ">= 1"),
            ("enc_layers", self.enc_layers >= 0, ">= 0"),
            ("pose_layers", self.pose_layers >= 1, ">= 1"),
            ("pose_anchor", self.pose_anchor in ("per_frame", "centre"), "'per_frame' or 'centre'"),
            ("joint_layers", self.joint_layers >= 0, ">= 0"),
            ("num_refine", 1 <= self.num_refine <= self.num_queries, "between 1 and num_queries"),
            ("num_keypoints", self.num_keypoints >= 2, ">= 2"),
            ("dropout", 0.0 <= self.dropout < 1.0, "in [0, 1)"),
            ("loss_hm", self.loss_hm >= 0.0, ">= 0"),
            ("enc_repeats", self.enc_repeats >= 1, ">= 1"),
            ("num_groups", self.num_groups >= 1, ">= 1"),
            ("dn_groups", self.dn_groups >= 0, ">= 0"),
            ("dn_noise", 0.0 < self.dn_noise <= 1.0, "in (0, 1]"),
            ("query_nms", 0.0 <= self.query_nms <= 1.0, "in [0, 1]"),
            ("cls_quality", self.cls_quality >= 0.0, ">= 0"),
            ("ema_decay", 0.0 <= self.ema_decay < 1.0, "in [0, 1)"),
            ("augment", self.augment in AUGMENT_NAMES, f"one of {AUGMENT_NAMES}"),
        ]
        for fld, ok, expected in checks:
            if not ok:
                raise ConfigError(f"PAVENetConfig.{fld}: expected {expected}, got {getattr(self, fld)!r}")

    @property
    def centre(self) -> int:
        """Index of the centre frame, F // 2."""
        return self.num_frames // 2

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["lr_mult_keywords"] = list(self.lr_mult_keywords)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config dict") -> PAVENetConfig:
        """Inverse of `to_dict`; `source` (e.g. a checkpoint path) names the origin in error messages."""
        if not isinstance(d, dict):
            raise ConfigError(f"{source}: expected a dict of PAVENetConfig fields, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown PAVENetConfig field(s) {unknown}; expected a subset of {sorted(known)}")
        try:
            return cls(**d)
        except ConfigError as e:
            raise ConfigError(f"{source}: {e}") from None

    @classmethod
    def tiny(cls, **overrides: Any) -> PAVENetConfig:
        base = dict(name="tiny", backbone_depth=18, backbone_width=0.25, backbone_frozen_bn=False,
                    backbone_frozen_stages=-1, hidden_dim=64, ffn_dim=128, dropout=0.0, num_levels=3,
                    num_heads=4, enc_points=4, enc_layers=2, pose_layers=2, joint_layers=1, joint_points=4,
                    num_queries=30, num_refine=10, max_size=192, lr=1e-3, grad_clip=1.0, accum_steps=1,
                    lr_mult_keywords=("sampling_offsets",),  # trained from scratch: the backbone at full lr
                    epochs=30, lr_drop_epoch=25,
                    # from scratch on a CPU these learn ~2x faster (docs/benchmarks.md, "Making it learn")
                    loss_l1=5.0, loss_hm=2.0, query_nms=0.3, ema_decay=0.999, augment="light")
        return cls(**{**base, **overrides})

    @classmethod
    def small(cls, **overrides: Any) -> PAVENetConfig:
        base = dict(name="small", backbone_depth=18, backbone_width=1.0, backbone_frozen_bn=False,
                    backbone_frozen_stages=-1, hidden_dim=128, ffn_dim=512, dropout=0.1, num_levels=4,
                    num_heads=8, enc_points=4, enc_layers=3, pose_layers=3, joint_layers=2, joint_points=4,
                    num_queries=100, num_refine=20, max_size=512, lr=1e-4, grad_clip=0.1, accum_steps=2,
                    epochs=30, lr_drop_epoch=25)
        return cls(**{**base, **overrides})

    @classmethod
    def paper(cls, **overrides: Any) -> PAVENetConfig:
        return cls(**{"name": "paper", **overrides})


def _kind(name: str) -> Any:
    return typing.get_type_hints(PAVENetConfig)[name]


_EXPECTED = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
             tuple[str, ...]: "a list of strings"}


def _check_types(cfg: PAVENetConfig) -> None:
    """Every field holds a value of its declared type (an int where a float belongs becomes a float, a list of
    strings a tuple): a config read from a file or typed on a command line fails here, not deep inside the model."""
    for f in dataclasses.fields(cfg):
        kind, value = _kind(f.name), getattr(cfg, f.name)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif kind == tuple[str, ...] and isinstance(value, list):
            value = tuple(value)
        if kind == tuple[str, ...]:
            ok = isinstance(value, tuple) and all(isinstance(v, str) for v in value)
        else:  # bool is an int to Python, never to a config
            ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
        if not ok:
            raise ConfigError(f"PAVENetConfig.{f.name}: expected {_EXPECTED[kind]}, got {value!r}")
        setattr(cfg, f.name, value)


def parse_field(name: str, text: str) -> Any:
    """The value of field `name` typed as text (`--set name=text`), converted to the field's type.

    int: `96`; float: `1e-3`; bool: `true`/`false`; str: `centre` (or JSON `"centre"`); tuple of strings: a comma
    list `backbone,sampling_offsets` or a JSON list `["backbone"]`. Anything else raises `ConfigError`.
    """
    known = {f.name for f in dataclasses.fields(PAVENetConfig)}
    if name not in known:
        raise ConfigError(f"{name!r} is not a PAVENetConfig field; expected one of {sorted(known)}")
    kind = _kind(name)
    text = text.strip()
    if kind == tuple[str, ...]:
        if text.startswith("["):
            value = _json(name, text, kind)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return tuple(value)
            raise ConfigError(f"{name}={text}: expected {_EXPECTED[kind]}, got {value!r}")
        return tuple(part.strip() for part in text.split(",") if part.strip())
    if kind is str:
        return _json(name, text, kind) if text.startswith('"') else text
    if kind is bool:
        lowered = text.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
    elif kind is int and re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    elif kind is float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return value
    raise ConfigError(f"{name}={text}: expected {_EXPECTED[kind]}" + (" (finite)" if kind is float else ""))


def format_field(value: Any) -> str:
    """The text `parse_field` reads back as `value`: `true`/`false`, comma lists for tuples, JSON numbers."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (tuple, list)):
        return ",".join(value)
    return value if isinstance(value, str) else json.dumps(value)


def _json(name: str, text: str, kind: Any) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ConfigError(f"{name}={text}: expected {_EXPECTED[kind]} (malformed JSON)") from None


PRESETS = {"tiny": PAVENetConfig.tiny, "small": PAVENetConfig.small, "paper": PAVENetConfig.paper}


def get_config(name: str, **overrides: Any) -> PAVENetConfig:
    """Preset `name` ('tiny', 'small', 'paper') with field overrides, e.g. `get_config('tiny', num_frames=5)`."""
    if name not in PRESETS:
        raise ConfigError(f"config preset: unknown name {name!r}; expected one of {sorted(PRESETS)}")
    known = {f.name for f in dataclasses.fields(PAVENetConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"config preset {name!r}: unknown override(s) {unknown}")
    return PRESETS[name](**overrides)
