"""Which tensors of the official PAVE-Net / PETR state dict make which tensors of ours (`official_weights.py`).

Official names follow the modules of PETR's opera code (mmcv 1.x / mmdet 2.x): `backbone.*` (mmdet's ResNet uses
torchvision's names), `neck.convs.{i}.conv|gn` and `neck.extra_convs.*` (ChannelMapper),
`bbox_head.transformer.{encoder,decoder,refine_decoder}.layers.{i}` with `attentions.{0,1}`, `ffns.0.layers`,
`norms.{0,1,2}` (mmcv post-norm layers), and the branches of `bbox_head` (`cls_branches`, `kpt_branches`, ...; entry
D of the D + 1 is the encoder's proposal head). A `Link` names our tensors, the official ones and the kind of mapping
(copy / frames / sigma / zero, see `official_weights.py`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pavenet_lite.config import PAVENetConfig

H, T = "bbox_head.", "bbox_head.transformer."
FRAME_PREFIXES = {1: ("",), 3: ("pre_", "", "next_")}  # frames t-1, t, t+1 of the official multi-frame modules


@dataclass(frozen=True)
class Link:
    ours: tuple[str, ...]
    theirs: tuple[str, ...]
    kind: str  # "copy", "frames", "sigma" or "zero"


def _params(ours: str, theirs: str) -> list[Link]:
    return [Link((f"{ours}.{p}",), (f"{theirs}.{p}",), "copy") for p in ("weight", "bias")]


def _mlp(ours: str, theirs: str, layers: int) -> list[Link]:
    """Our MLP `ours.mlp.layers.{j}` <- an nn.Sequential of Linear / ReLU, Linear j at index 2 j."""
    return [x for j in range(layers) for x in _params(f"{ours}.mlp.layers.{j}", f"{theirs}.{2 * j}")]


def _sigma(ours: str, theirs: str) -> list[Link]:
    names = [f"{ours}.mlp.layers.{j}.{p}" for j in range(3) for p in ("weight", "bias")]
    return [Link(tuple(names), tuple(f"{theirs}.{i}.{p}" for i in ("0", "1", "2.linear") for p in ("weight", "bias")),
                 "sigma")]


def _attention(ours: str, theirs: str, prefixes: tuple[str, ...]) -> list[Link]:
    links = [Link((f"{ours}.{name}.{p}",), tuple(f"{theirs}.{f}{name}.{p}" for f in prefixes), "frames")
             for name in ("sampling_offsets", "attention_weights") for p in ("weight", "bias")]
    return links + _params(f"{ours}.value_proj", f"{theirs}.value_proj") + _params(f"{ours}.output_proj",
                                                                                   f"{theirs}.output_proj")


def _layer(ours: str, theirs: str, prefixes: tuple[str, ...], decoder: bool) -> list[Link]:
    """One mmcv post-norm layer: [self-attn, norm,] attention, norm, FFN, norm."""
    links, norms = [], [f"{ours}.norm"]
    if decoder:
        links += [Link((f"{ours}.self_attn.{p}",), (f"{theirs}.attentions.0.attn.{p}",), "copy")
                  for p in ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias")]
        norms = [f"{ours}.norm1", f"{ours}.norm2"]
    links += _attention(f"{ours}.{'cross_attn' if decoder else 'self_attn'}",
                        f"{theirs}.attentions.{1 if decoder else 0}", prefixes)
    links += _params(f"{ours}.ffn.net.0", f"{theirs}.ffns.0.layers.0.0") + _params(f"{ours}.ffn.net.3",
                                                                                   f"{theirs}.ffns.0.layers.1")
    for i, name in enumerate(norms + [f"{ours}.ffn.norm"]):
        links += _params(name, f"{theirs}.norms.{i}")
    return links


def link_table(cfg: PAVENetConfig, template: dict[str, Any]) -> list[Link]:
    """Every tensor of a `cfg` model (`template`: its state dict) and the official tensors it is made from."""
    prefixes = FRAME_PREFIXES[cfg.num_frames]
    links = [Link((k,), (k,), "copy") for k in template if k.startswith("backbone.")]
    inputs = min(3, cfg.num_levels)
    for i in range(cfg.num_levels):
        ours, theirs = (f"neck.input_proj.{i}", f"neck.convs.{i}") if i < inputs else \
            (f"neck.extra_proj.{i - inputs}", f"neck.extra_convs.{i - inputs}")
        links += [Link((f"{ours}.0.weight",), (f"{theirs}.conv.weight",), "copy"), Link((f"{ours}.0.bias",), (), "zero")]
        links += _params(f"{ours}.1", f"{theirs}.gn")
    links.append(Link(("position.level_embed",), (f"{T}level_embeds",), "copy"))
    for i in range(cfg.enc_layers):
        links += _layer(f"encoder.layers.{i}", f"{T}encoder.layers.{i}", ("",), decoder=False)
    D = cfg.pose_layers  # the branches' entry D is the encoder's proposal head
    links += _params("query_selection.enc_output", f"{T}enc_output") + _params("query_selection.enc_norm",
                                                                               f"{T}enc_output_norm")
    links += _params("query_selection.cls_head", f"{H}cls_branches.{D}") + _mlp(
        "query_selection.kpt_head", f"{H}kpt_branches.{D}", 4) + _sigma("query_selection.sigma_head",
                                                                        f"{H}dec_fc_sigma_branches.{D}")
    links.append(Link(("query_embed.weight",), (f"{H}query_embedding.weight",), "copy"))
    for d in range(D):
        links += _layer(f"pose_decoder.layers.{d}", f"{T}decoder.layers.{d}", prefixes, decoder=True)
        links += _params(f"cls_heads.{d}", f"{H}cls_branches.{d}") + _sigma(f"sigma_heads.{d}",
                                                                           f"{H}dec_fc_sigma_branches.{d}")
        for f, prefix in enumerate(prefixes):
            if f"pose_decoder.refine.{d}.{f}.mlp.layers.0.weight" in template:
                links += _mlp(f"pose_decoder.refine.{d}.{f}", f"{H}{prefix}kpt_branches.{d}", 4)
    if cfg.joint_layers:
        links.append(Link(("joint_decoder.query_embed.weight",), (f"{T}refine_query_embedding.weight",), "copy"))
    for e in range(cfg.joint_layers):
        links += _layer(f"joint_decoder.layers.{e}", f"{T}refine_decoder.layers.{e}", prefixes, decoder=True)
        links += _sigma(f"joint_decoder.sigma.{e}", f"{H}refine_fc_sigma_branches.{e}")
        for f, prefix in enumerate(prefixes):
            if f"joint_decoder.refine.{e}.{f}.mlp.layers.0.weight" in template:
                links += _mlp(f"joint_decoder.refine.{e}.{f}", f"{H}{prefix}refine_kpt_branches.{e}", 3)
    for ours, theirs in (("enc", "enc_flow"), ("dec", "dec_flow"), ("refine", "flow")):
        if f"flows.{ours}.s.0.0.weight" in template:
            links += [x for net in "st" for i in range(6) for j in (0, 2, 4)
                      for x in _params(f"flows.{ours}.{net}.{i}.{j}", f"{H}{theirs}.{net}.{i}.{j}")]
    return links
