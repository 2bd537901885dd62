"""The authors' released weights: official PAVE-Net (PoseTrack, F = 3) and PETR (COCO, R50) checkpoints -> `paper`.

`official_names.link_table` says which official tensors make which of ours, by one of four kinds of link:

* copy   - the same tensor;
* frames - the per-frame Linear layers of a multi-frame attention (`pre_`, unprefixed, `next_` = frames t-1, t, t+1),
  each `[out, C]`, become one `FrameLinear` `[F, C, out]`. The output channels keep their order: mmcv views them as
  (heads, levels, points, xy) / (heads, levels, points), as our attentions do, so nothing is permuted;
* sigma  - the official uncertainty branch is three Linear layers with no activation between them, one affine map
  z = A h + b; ours has ReLUs. [A; -A; 0] -> ReLU -> identity -> ReLU -> [I, -I, 0] gives relu(z) - relu(-z) = z
  exactly (it needs 4K <= C: 60 <= 256);
* zero   - a tensor the official model lacks and whose zero makes ours compute the same (mmcv's ConvModule has no
  conv bias before GroupNorm).

PETR (F = 1, 17 COCO keypoints, no uncertainty branches or flows) keeps the keypoint slots PoseTrack uses
(`MODEL_TO_PT18`) and is inflated to F frames (`model.inflate`). `to_official` maps back (tests check both ways).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from pavenet_lite.checkpoint import file_identity, save_checkpoint
from pavenet_lite.config import PAVENetConfig, get_config
from pavenet_lite.joints import MODEL_TO_PT18
from pavenet_lite.model.backbone import resnet_depth
from pavenet_lite.model.inflate import inflate_state_dict
from pavenet_lite.model.pavenet import PAVENet
from pavenet_lite.official_names import H, T, Link, link_table

KINDS = ("official-pavenet", "official-petr")
UNMAPPED_REASONS = (  # official tensors with no counterpart, and why that is fine
    (r"num_batches_tracked$", "BatchNorm step counters (the backbone's BatchNorm is frozen)"),
    (r"_?flow\.mask$", "RealNVP coupling masks (fixed [[0, 1], [1, 0]] x 3, built into ours)"),
    (r"^bbox_head\.fc_hm\.", "heatmap head (its loss has weight 0; unused at inference)"),
    (r"^bbox_head\.transformer\.hm_encoder\.", "heatmap encoder (PETR's auxiliary training branch)"),
    (r"^bbox_head\.(pre|next)_refine_kpt_branches\.", "non-centre refiners after the last joint layer (never read)"),
)
NOTES = {
    "official-pavenet": [
        "RLE flows: the official prior has mean 0.5, ours 0 (changes the training loss only, not predictions)",
        "query selection: the official code zeroes tokens whose cell centre lies within 1 % of the image border; "
        "ours keeps them",
        "joint attention: the official code zeroes padding before value_proj, ours after (equal on unpadded input, "
        "i.e. one clip per batch as the official test)",
        "pixels: official x = x_norm * W, ours x_norm * W - 0.5 (half a pixel of the resized input)",
        "test size: official fits frames in 1333 x 800, ours scales the long side to 1333 (equal for 16:9 video)",
        "the July-2025 official head applies OKS-NMS 0.45: `pavenet predict --oks-nms` does the same",
    ],
    "official-petr": [
        "head_bottom / head_top start from COCO's left / right eye, the slots PoseTrack files store them in "
        "(the official 17 -> 15 keypoint recipe is not published)",
        "PETR has no uncertainty branches and no flows: sigma heads and flows keep their initialisation",
        "image weights inflated to F frames: every frame copies them, so the frames start equally weighted",
        "PETR's pose attention zeroes padding after value_proj, ours before",
    ],
}


class ConversionError(ValueError):
    """An official checkpoint that cannot be read or does not have the expected architecture."""


def _fold_sigma(w1, b1, w2, b2, w3, b3) -> list[torch.Tensor]:
    """Official Linear weights `[C, C]`, `[C, C]`, `[2K, C]` (+ biases) -> our ReLU MLP's six tensors, same function."""
    a = (w3.double() @ w2.double() @ w1.double())                                 # [2K, C]
    b = w3.double() @ (w2.double() @ b1.double() + b2.double()) + b3.double()     # [2K]
    n, C = a.shape
    if 2 * n > C:
        raise ConversionError(f"sigma branch with {n} outputs cannot be folded into a width-{C} ReLU MLP")
    eye = torch.eye(n, dtype=a.dtype, device=a.device)
    l0 = torch.cat([a, -a, a.new_zeros(C - 2 * n, C)])
    l2 = torch.cat([eye, -eye, a.new_zeros(n, C - 2 * n)], 1)
    out = [l0, torch.cat([b, -b, b.new_zeros(C - 2 * n)]), torch.eye(C, dtype=a.dtype, device=a.device),
           b.new_zeros(C), l2, b.new_zeros(n)]
    return [t.to(w1.dtype) for t in out]


def _unfold_sigma(l0, b0, l1, b1, l2, b2, key: str) -> list[torch.Tensor]:
    """Inverse of `_fold_sigma` for a head still in folded form: `[C, C]`, `[C]`, `[C, C]`, `[C]`, `[2K, C]`, `[2K]`."""
    n, C = l2.shape
    a, b = l0[:n], b0[:n]
    eye, zero = torch.eye(n, dtype=a.dtype), b.new_zeros(n)
    if any(not torch.equal(x, y) for x, y in zip(_fold_sigma(a, b, eye, zero, eye, zero), (l0, b0, l1, b1, l2, b2))):
        raise ConversionError(f"{key}: this sigma head has trained ReLU layers; it has no exact official form")
    return [torch.cat([a, a.new_zeros(C - n, C)]), torch.cat([b, b.new_zeros(C - n)]), torch.eye(C, dtype=a.dtype),
            b.new_zeros(C), torch.eye(C, dtype=a.dtype)[:n], zero]


def _to_ours(link: Link, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    if link.kind == "frames":  # F x [out, C] -> [F, C, out]; F x [out] -> [F, out]
        return [torch.stack([t.t() if t.dim() == 2 else t for t in tensors])]
    return _fold_sigma(*tensors) if link.kind == "sigma" else list(tensors)


def _to_theirs(link: Link, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    if link.kind == "frames":
        return [t.t() if t.dim() == 2 else t for t in tensors[0]]
    if link.kind == "sigma":
        return _unfold_sigma(*tensors, key=link.ours[0])
    if link.kind == "zero" and tensors[0].any():
        raise ConversionError(f"{link.ours[0]}: nonzero, but the official model has no such tensor")
    return [] if link.kind == "zero" else list(tensors)


def read_official(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of an official checkpoint (an mmcv file `{"meta", "state_dict", ...}` or a bare state dict),
    read with `weights_only=True`; `module.` prefixes (DDP) are stripped."""
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"{path}: checkpoint file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a pickled Python object other than tensors and containers
        raise ConversionError(f"{path}: cannot be read with weights_only=True ({type(e).__name__}: {e}); in an "
                              "environment you trust, re-save its 'state_dict' alone with torch.save") from e
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConversionError(f"{path}: expected an mmcv checkpoint with a 'state_dict' of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _count(state: dict[str, torch.Tensor], prefix: str) -> int:
    return len({k[len(prefix):].split(".")[0] for k in state if k.startswith(prefix)})


def infer_config(state: dict[str, torch.Tensor], kind: str, source: str = "checkpoint") -> PAVENetConfig:
    """The `paper` config whose model the official `state` fills (F and K as in the file; PETR: K = 15 kept)."""
    if kind not in KINDS:
        raise ConversionError(f"{source}: unknown kind {kind!r}; expected one of {KINDS}")
    for key in (f"{T}level_embeds", f"{H}query_embedding.weight", f"{H}kpt_branches.0.6.weight"):
        if key not in state:
            raise ConversionError(f"{source}: no tensor {key!r}: not an official PETR / PAVE-Net checkpoint")
    L, C = state[f"{T}level_embeds"].shape
    frames = 3 if f"{T}decoder.layers.0.attentions.1.pre_sampling_offsets.weight" in state else 1
    K = state[f"{H}kpt_branches.0.6.weight"].shape[0] // 2
    expected = {"official-pavenet": (3, 15), "official-petr": (1, 17)}[kind]
    if (frames, K) != expected:
        raise ConversionError(f"{source}: holds a model with F = {frames} frames and K = {K} keypoints; {kind} "
                              f"expects F = {expected[0]}, K = {expected[1]} (the other kind or another variant?)")
    depth = resnet_depth({k.removeprefix("backbone."): v for k, v in state.items() if k.startswith("backbone.")})
    if depth is None:
        raise ConversionError(f"{source}: backbone.*: expected a ResNet (mmdet naming), found no known layout")
    enc_offsets = state[f"{T}encoder.layers.0.attentions.0.sampling_offsets.weight"].shape[0]
    base = get_config("paper")
    if enc_offsets != base.num_heads * L * base.enc_points * 2:
        raise ConversionError(f"{source}: encoder sampling_offsets has {enc_offsets} outputs, expected "
                              f"{base.num_heads} heads x {L} levels x {base.enc_points} points x 2")
    return get_config("paper", num_frames=frames, num_levels=L, hidden_dim=C, backbone_depth=depth,
                      ffn_dim=state[f"{T}encoder.layers.0.ffns.0.layers.0.0.weight"].shape[0],
                      num_queries=state[f"{H}query_embedding.weight"].shape[0],
                      enc_layers=_count(state, f"{T}encoder.layers."), pose_layers=_count(state, f"{T}decoder.layers."),
                      joint_layers=_count(state, f"{T}refine_decoder.layers."),
                      pose_last_all_frames=kind == "official-pavenet")


def select_keypoints(state: dict[str, torch.Tensor], keep: tuple[int, ...], heads: int, levels: int
                     ) -> dict[str, torch.Tensor]:
    """Keep keypoints `keep` (of K) in every keypoint-sized official tensor: the keypoint branches' last layer
    `[2K, .]`, the pose attention `[M * L * K (* 2), .]`, the joint queries `[K, 2C]`."""
    idx = torch.tensor(keep)
    out = dict(state)
    for key, t in state.items():
        if re.search(r"^bbox_head\.kpt_branches\.\d+\.6\.", key):
            out[key] = t.view(-1, 2, *t.shape[1:])[idx].flatten(0, 1)
        elif re.search(r"decoder\.layers\.\d+\.attentions\.1\.(sampling_offsets|attention_weights)", key) \
                and not key.startswith(f"{T}refine_decoder"):
            xy = 2 if "sampling_offsets" in key else 1
            out[key] = t.view(heads, levels, -1, xy, *t.shape[1:])[:, :, idx].flatten(0, 3)
        elif key == f"{T}refine_query_embedding.weight":
            out[key] = t[idx]
    return out


@dataclass
class Conversion:
    """A converted state dict, its config, and what did not map (official keys by reason, our keys by fill)."""

    state: dict[str, torch.Tensor]
    config: PAVENetConfig
    kind: str
    used: int
    unmapped: dict[str, list[str]] = field(default_factory=dict)
    zero_filled: list[str] = field(default_factory=list)
    initialised: list[str] = field(default_factory=list)

    def report(self) -> str:
        lines = [f"mapped {self.used} official tensors onto {len(self.state)} of the '{self.config.name}' model "
                 f"(F = {self.config.num_frames}, K = {self.config.num_keypoints})"]
        for title, keys in [(f"filled with zeros ({len(self.zero_filled)}), the official conv has no bias before "
                             "GroupNorm", self.zero_filled),
                            (f"not in the file, left at initialisation ({len(self.initialised)})", self.initialised)]:
            if keys:
                lines += [title + ":"] + [f"  {k}" for k in keys]
        for reason, keys in self.unmapped.items():
            lines += [f"official keys not mapped ({len(keys)}): {reason}:"] + [f"  {k}" for k in keys]
        lines += ["differences the weights cannot carry:"] + [f"  - {n}" for n in NOTES[self.kind]]
        return "\n".join(lines)


def _reason(key: str) -> str:
    for pattern, reason in UNMAPPED_REASONS:
        if re.search(pattern, key):
            return reason
    return "UNKNOWN to this converter: check that the file is the architecture named by --from"


def convert(state: dict[str, torch.Tensor], kind: str, frames: int = 3, source: str = "checkpoint") -> Conversion:
    """Official tensors -> a `paper` model's state dict with `frames` frames (see the module docstring)."""
    cfg = infer_config(state, kind, source)
    if kind == "official-petr":
        state = select_keypoints(state, MODEL_TO_PT18, cfg.num_heads, cfg.num_levels)
    torch.manual_seed(0)  # what PETR lacks gets this model's (deterministic) initialisation
    init = PAVENet(cfg).state_dict()
    ours: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    zero_filled, problems = [], []
    for link in link_table(cfg, init):
        if link.kind == "zero":
            ours[link.ours[0]] = torch.zeros_like(init[link.ours[0]])
            zero_filled.append(link.ours[0])
            continue
        if not all(k in state for k in link.theirs):
            continue
        used.update(link.theirs)
        for key, value in zip(link.ours, _to_ours(link, [state[k] for k in link.theirs])):
            if value.shape != init[key].shape:
                problems.append(f"{key} <- {link.theirs[0]}: shape {tuple(value.shape)}, "
                                f"expected {tuple(init[key].shape)}")
            ours[key] = value.to(init[key].dtype)
    initialised = [k for k in init if k not in ours]
    allowed = ("sigma_head", "sigma_heads.", "joint_decoder.sigma.", "flows.") if kind == "official-petr" else ()
    problems += [f"{k}: no official tensor" for k in initialised if not any(a in k for a in allowed)]
    if problems:
        raise ConversionError(f"{source}: does not fit the '{cfg.name}' model: " + "; ".join(problems[:6])
                              + (f" (and {len(problems) - 6} more)" if len(problems) > 6 else ""))
    ours.update({k: init[k] for k in initialised})
    unmapped: dict[str, list[str]] = {}
    for key in sorted(set(state) - used):
        unmapped.setdefault(_reason(key), []).append(key)
    if cfg.num_frames != frames:
        cfg_f = PAVENetConfig.from_dict({**cfg.to_dict(), "num_frames": frames})
        ours, cfg = inflate_state_dict(ours, cfg.num_frames, PAVENet(cfg_f), frames), cfg_f
    return Conversion(ours, cfg, kind, len(used), unmapped, zero_filled, initialised)


def to_official(state: dict[str, torch.Tensor], cfg: PAVENetConfig) -> dict[str, torch.Tensor]:
    """A pavenet_lite state dict back under official names (the inverse of `convert` for PAVE-Net weights)."""
    theirs: dict[str, torch.Tensor] = {}
    for link in link_table(cfg, state):
        theirs.update(zip(link.theirs, _to_theirs(link, [state[k] for k in link.ours])))
    return theirs


def convert_checkpoint(src: str | Path, kind: str, out: str | Path, frames: int = 3) -> Conversion:
    """Convert the official checkpoint `src` and write a pavenet_lite checkpoint (with a card naming `src`) to `out`."""
    conversion = convert(read_official(src), kind, frames, source=str(src))
    card = {"converted_from": kind, "source": file_identity(src), "unmapped": conversion.unmapped,
            "zero_filled": conversion.zero_filled, "initialised": conversion.initialised, "notes": NOTES[kind]}
    save_checkpoint({"model": conversion.state, "config": conversion.config.to_dict(), "step": 0, "card": card}, out)
    return conversion
