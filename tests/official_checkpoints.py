"""Synthetic official checkpoints: the tensor names and shapes of the authors' PAVE-Net and PETR models, written here
from their code (not from the converter), and their modules computed the official way for numerical checks.

Sources (file and line of the public repositories, read for names and layouts; nothing is imported from them):
P = zgspose/PAVENet @ 4c3c7e3, O = hikvision-research/opera @ 91d0265.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def resnet_shapes(depth: int) -> dict[str, tuple[int, ...]]:
    """`backbone.*` of mmdet's ResNet (P third_party/mmdetection/mmdet/models/backbones/resnet.py l.37, l.166: conv1 /
    norm1 'bn1' ...; l.486: stages 'layer{i}'; downsample = Sequential(conv, norm)), i.e. torchvision's names."""
    s: dict[str, tuple[int, ...]] = {}

    def bn(name: str, c: int) -> None:
        s.update({f"{name}.{p}": (c,) for p in ("weight", "bias", "running_mean", "running_var")})
        s[f"{name}.num_batches_tracked"] = ()

    s["backbone.conv1.weight"] = (64, 3, 7, 7)
    bn("backbone.bn1", 64)
    bottleneck = depth == 50
    counts = {18: (2, 2, 2, 2), 50: (3, 4, 6, 3)}[depth]
    inplanes = 64
    for i, (planes, n) in enumerate(zip((64, 128, 256, 512), counts), 1):
        out = planes * (4 if bottleneck else 1)
        for j in range(n):
            p = f"backbone.layer{i}.{j}"
            convs = [(planes, inplanes, 1, 1), (planes, planes, 3, 3), (out, planes, 1, 1)] if bottleneck else \
                [(planes, inplanes, 3, 3), (planes, planes, 3, 3)]
            for c, shape in enumerate(convs, 1):
                s[f"{p}.conv{c}.weight"] = shape
                bn(f"{p}.bn{c}", shape[0])
            if j == 0 and (inplanes != out or i > 1):
                s[f"{p}.downsample.0.weight"] = (out, inplanes, 1, 1)
                bn(f"{p}.downsample.1", out)
            inplanes = out
    return s


def _linear(s: dict, name: str, out: int, inp: int) -> None:
    s[f"{name}.weight"], s[f"{name}.bias"] = (out, inp), (out,)


def _layer(s: dict, p: str, C: int, ffn: int, attn: list[tuple[str, int]], decoder: bool) -> None:
    """An mmcv BaseTransformerLayer (P third_party/mmcv/mmcv/cnn/bricks/transformer.py l.1214-1251: `attentions`,
    `ffns`, `norms` ModuleLists; FFN l.1094-1104: layers = Sequential(Sequential(Linear, act, Dropout), Linear,
    Dropout); MultiheadAttention l.452: `attn` = nn.MultiheadAttention)."""
    a = 0
    if decoder:
        s[f"{p}.attentions.0.attn.in_proj_weight"], s[f"{p}.attentions.0.attn.in_proj_bias"] = (3 * C, C), (3 * C,)
        _linear(s, f"{p}.attentions.0.attn.out_proj", C, C)
        a = 1
    for name, out in attn:
        _linear(s, f"{p}.attentions.{a}.{name}", out, C)
    for name in ("value_proj", "output_proj"):
        _linear(s, f"{p}.attentions.{a}.{name}", C, C)
    _linear(s, f"{p}.ffns.0.layers.0.0", ffn, C)
    _linear(s, f"{p}.ffns.0.layers.1", C, ffn)
    for i in range(3 if decoder else 2):
        s[f"{p}.norms.{i}.weight"], s[f"{p}.norms.{i}.bias"] = (C,), (C,)


def _frames(names: tuple[str, ...], prefixes: tuple[str, ...], outs: tuple[int, ...]) -> list[tuple[str, int]]:
    return [(f"{pre}{n}", o) for pre in prefixes for n, o in zip(names, outs)]


def official_shapes(kind: str, C: int = 256, K: int = 15, Q: int = 300, L: int = 4, M: int = 8, ffn: int = 1024,
                    enc: int = 6, dec: int = 3, ref: int = 2, depth: int = 50, kpt_hidden: int = 512
                    ) -> dict[str, tuple[int, ...]]:
    """Every tensor of the official state dict, kind "pavenet" (F = 3) or "petr" (F = 1, K = 17). The keypoint
    branches' hidden width is 512 in the official code (= 2C of the paper model; ours is 2C for any C)."""
    s = resnet_shapes(depth)
    c_in = (128, 256, 512) if depth == 18 else (512, 1024, 2048)
    # ChannelMapper (P mmdet/models/necks/channel_mapper.py l.61, l.73): convs / extra_convs of ConvModule, whose conv
    # has no bias before a norm (P mmcv/cnn/bricks/conv_module.py l.105) and whose GroupNorm is named 'gn'.
    for i, c in enumerate(c_in):
        s[f"neck.convs.{i}.conv.weight"], s[f"neck.convs.{i}.gn.weight"], s[f"neck.convs.{i}.gn.bias"] = \
            (C, c, 1, 1), (C,), (C,)
    for i in range(L - 3):
        s[f"neck.extra_convs.{i}.conv.weight"] = (C, c_in[-1] if i == 0 else C, 3, 3)
        s[f"neck.extra_convs.{i}.gn.weight"], s[f"neck.extra_convs.{i}.gn.bias"] = (C,), (C,)
    T, H = "bbox_head.transformer.", "bbox_head."
    video = kind == "pavenet"
    frames = ("pre_", "", "next_") if video else ("",)
    # Transformer: P opera/models/utils/transformer.py l.21051 level_embeds, l.21055 enc_output(_norm), l.21058
    # refine_query_embedding; O opera/models/utils/transformer.py l.573 hm_encoder (PETR only), l.578-585.
    s[f"{T}level_embeds"] = (L, C)
    _linear(s, f"{T}enc_output", C, C)
    s[f"{T}enc_output_norm.weight"], s[f"{T}enc_output_norm.bias"] = (C,), (C,)
    s[f"{T}refine_query_embedding.weight"] = (K, 2 * C)
    # Encoder: mmcv MultiScaleDeformableAttention (P mmcv/ops/multi_scale_deform_attn.py l.208), 4 points.
    for i in range(enc):
        _layer(s, f"{T}encoder.layers.{i}", C, ffn, [("sampling_offsets", M * L * 4 * 2),
                                                      ("attention_weights", M * L * 4)], decoder=False)
    if not video:
        _layer(s, f"{T}hm_encoder.layers.0", C, ffn, [("sampling_offsets", M * 1 * 4 * 2),
                                                       ("attention_weights", M * 1 * 4)], decoder=False)
    # Pose decoder: pose attention with pre_/-/next_ Linear layers (P transformer.py l.1611-1625; PETR: O l.311-316).
    for d in range(dec):
        _layer(s, f"{T}decoder.layers.{d}", C, ffn, _frames(("sampling_offsets", "attention_weights"), frames,
                                                            (M * L * K * 2, M * L * K)), decoder=True)
    # Joint decoder: multi-frame deformable attention, 4 points (P mmcv/ops/multi_scale_deform_attn.py l.1339-1351).
    for e in range(ref):
        _layer(s, f"{T}refine_decoder.layers.{e}", C, ffn, _frames(("sampling_offsets", "attention_weights"),
                                                                   frames, (M * L * 4 * 2, M * L * 4)), decoder=True)
    # Head (P opera/models/dense_heads/videopose_head_mul_frames.py l.169-352; PETR: O petr_head.py l.151-194).
    for i in range(dec + 1):
        _linear(s, f"{H}cls_branches.{i}", 1, C)
        for j, (o, n) in enumerate(((kpt_hidden, C), (kpt_hidden, kpt_hidden), (kpt_hidden, kpt_hidden),
                                         (2 * K, kpt_hidden))):  # l.176-182
            _linear(s, f"{H}kpt_branches.{i}.{2 * j}", o, n)
    s[f"{H}query_embedding.weight"] = (Q, 2 * C)                                       # l.271
    for e in range(ref):                                                                  # l.277-279, l.337
        for j, o in enumerate((C, C, 2)):
            _linear(s, f"{H}refine_kpt_branches.{e}.{2 * j}", o, C)
    _linear(s, f"{H}fc_hm", K, C)                                                         # l.339
    if video:
        for pre in ("pre_", "next_"):                                                     # l.217-241, l.305-324
            for i in range(dec):
                for j, (o, n) in enumerate(((kpt_hidden, C), (kpt_hidden, kpt_hidden), (kpt_hidden, kpt_hidden),
                                         (2 * K, kpt_hidden))):
                    _linear(s, f"{H}{pre}kpt_branches.{i}.{2 * j}", o, n)
            for e in range(ref):
                for j, o in enumerate((C, C, 2)):
                    _linear(s, f"{H}{pre}refine_kpt_branches.{e}.{2 * j}", o, C)
        # sigma branches: Linear, Linear, Linear_with_norm(.linear) with no activation (l.185-188, l.283-286, l.1610)
        for name, n, out in (("dec_fc_sigma_branches", dec + 1, 2 * K), ("refine_fc_sigma_branches", ref, 2)):
            for i in range(n):
                _linear(s, f"{H}{name}.{i}.0", C, C)
                _linear(s, f"{H}{name}.{i}.1", C, C)
                _linear(s, f"{H}{name}.{i}.2.linear", out, C)
        for flow in ("enc_flow", "dec_flow", "flow"):                                     # l.341-352, l.1538-1601
            s[f"{H}{flow}.mask"] = (6, 2)
            for net in "ts":
                for i in range(6):
                    for j, (o, n) in enumerate(((64, 2), (64, 64), (2, 64))):
                        _linear(s, f"{H}{flow}.{net}.{i}.{2 * j}", o, n)
    return s


def random_official(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors for `shapes`: small weights (sampling points stay near their references), positive variances."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, shape in shapes.items():
        if k.endswith("num_batches_tracked"):
            out[k] = torch.tensor(7)
        elif k.endswith("running_var"):
            out[k] = torch.rand(shape, generator=g) + 0.5
        elif k.endswith(".mask"):
            out[k] = torch.tensor([[0.0, 1.0], [1.0, 0.0]] * 3)
        else:
            out[k] = torch.randn(shape, generator=g) * (0.02 if "sampling_offsets" in k else 0.1)
    return out


def msda(value: torch.Tensor, shapes: list[tuple[int, int]], locations: torch.Tensor, weights: torch.Tensor
         ) -> torch.Tensor:
    """mmcv's `multi_scale_deformable_attn_pytorch` (P mmcv/ops/multi_scale_deform_attn.py l.92-149): value
    (bs, N, M, D), locations (bs, nq, M, L, P, 2), weights (bs, nq, M, L, P) -> (bs, nq, M * D)."""
    bs, _, M, D = value.shape
    _, nq, _, L, P, _ = locations.shape
    values = value.split([h * w for h, w in shapes], dim=1)
    grids = 2 * locations - 1
    sampled = []
    for lvl, (h, w) in enumerate(shapes):
        v = values[lvl].flatten(2).transpose(1, 2).reshape(bs * M, D, h, w)
        g = grids[:, :, :, lvl].transpose(1, 2).flatten(0, 1)
        sampled.append(F.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False))
    w = weights.transpose(1, 2).reshape(bs * M, 1, nq, L * P)
    out = (torch.stack(sampled, dim=-2).flatten(-2) * w).sum(-1).view(bs, M * D, nq)
    return out.transpose(1, 2)


def _lin(p: dict, name: str, x: torch.Tensor) -> torch.Tensor:
    return x @ p[f"{name}.weight"].t() + p[f"{name}.bias"]


def official_attention(p: dict, query: torch.Tensor, memory: torch.Tensor, refs: torch.Tensor, mask: torch.Tensor,
                       shapes: list[tuple[int, int]], ratios: torch.Tensor, M: int, points: int,
                       prefixes: tuple[str, ...], pose: bool, mask_before: bool) -> torch.Tensor:
    """The official multi-frame deformable attention without dropout and residual.

    pose=True: pose attention (P transformer.py l.1700-1862; PETR: O transformer.py l.380-426): points = K, reference
    (bs, nq, L, 2K) = keypoints * valid_ratios.repeat(1, 1, K) (P l.6715), offsets scaled by half the per-level pose
    extent. pose=False: mmcv attention (P multi_scale_deform_attn.py l.208-414, l.1440-1588): offsets / (W_l, H_l).
    Per frame: Linear -> view (bs, nq, M, L, P[, 2]) -> softmax over L * P; frames fused with exp-sum ratios (l.1737).
    query (bs, nq, C); memory (bs, F, N, C); refs (bs, F, nq, P_or_1, 2) normalised; mask (bs, N); ratios (bs, L, 2).
    """
    bs, nq, _ = query.shape
    N, L = memory.shape[2], len(shapes)
    outs, sums = [], []
    for f, pre in enumerate(prefixes):
        v = memory[:, f].masked_fill(mask[..., None], 0.0) if mask_before else memory[:, f]
        v = _lin(p, "value_proj", v)
        v = (v if mask_before else v.masked_fill(mask[..., None], 0.0)).view(bs, N, M, -1)
        offsets = _lin(p, f"{pre}sampling_offsets", query).view(bs, nq, M, L, points, 2)
        logits = _lin(p, f"{pre}attention_weights", query).view(bs, nq, M, L * points)
        sums.append(logits.exp().sum(-1, keepdim=True))
        weights = logits.softmax(-1).view(bs, nq, M, L, points)
        if pose:
            r = refs[:, f].flatten(2)[:, :, None] * ratios.repeat(1, 1, points)[:, None]   # (bs, nq, L, 2K)
            x1, x2 = r[..., 0::2].min(-1, keepdim=True)[0], r[..., 0::2].max(-1, keepdim=True)[0]
            y1, y2 = r[..., 1::2].min(-1, keepdim=True)[0], r[..., 1::2].max(-1, keepdim=True)[0]
            wh = torch.cat([(x2 - x1).clamp(min=1e-4), (y2 - y1).clamp(min=1e-4)], -1)[:, :, None, :, None, :]
            loc = r.reshape(bs, nq, L, points, 2).unsqueeze(2) + offsets * wh * 0.5
        else:
            r = refs[:, f, :, 0][:, :, None] * ratios[:, None]                              # (bs, nq, L, 2)
            norm = torch.tensor([[w, h] for h, w in shapes], dtype=torch.float32)
            loc = r[:, :, None, :, None, :] + offsets / norm[None, None, None, :, None, :]
        outs.append(msda(v, shapes, loc, weights).view(bs, nq, M, -1))
    total = sum(sums)
    fused = sum(o * (s / total) for o, s in zip(outs, sums)).flatten(-2)
    return _lin(p, "output_proj", fused)
