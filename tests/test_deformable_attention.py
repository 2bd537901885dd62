"""Deformable sampling kernel, multi-frame attention and pose-aware attention against naive references."""
from __future__ import annotations

import math

import pytest
import torch

from pavenet_lite.model.deformable_attention import (
    MultiFrameDeformableAttention, deformable_sample, joint_softmax)
from pavenet_lite.model.pose_aware_attention import PoseAwareAttention




def bilinear_pixel(value_map: torch.Tensor, x: float, y: float) -> torch.Tensor:
    """value_map `[H, W, D]`; (x, y) normalised with (0, 0) the top-left corner of the map (pixel centres at
    (i + 0.5) / W). Zero outside. Hand-written, one corner at a time."""
    H, W, D = value_map.shape
    px, py = x * W - 0.5, y * H - 0.5   # continuous pixel index, pixel centres on integers
    x0, y0 = math.floor(px), math.floor(py)
    out = torch.zeros(D, dtype=torch.float64)
    for xx, yy in ((x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)):
        if 0 <= xx < W and 0 <= yy < H:
            wgt = (1 - abs(px - xx)) * (1 - abs(py - yy))
            out += wgt * value_map[yy, xx].double()
    return out


def naive_sample(value, shapes, locations, weights):
    """value [B, F, N, M, D], locations [B, Q, M, F, L, P, 2], weights [B, Q, M, F, L, P] -> [B, Q, M*D]."""
    B, Fr, _, M, D = value.shape
    Q, L, P = locations.shape[1], locations.shape[4], locations.shape[5]
    starts = [0]
    for h, w in shapes:
        starts.append(starts[-1] + h * w)
    out = torch.zeros(B, Q, M, D, dtype=torch.float64)
    for b in range(B):
        for q in range(Q):
            for m in range(M):
                for f in range(Fr):
                    for lvl in range(L):
                        h, w = shapes[lvl]
                        vmap = value[b, f, starts[lvl]:starts[lvl + 1], m].reshape(h, w, D)
                        for p in range(P):
                            x, y = locations[b, q, m, f, lvl, p].tolist()
                            out[b, q, m] += weights[b, q, m, f, lvl, p].double() * bilinear_pixel(vmap, x, y)
    return out.reshape(B, Q, M * D)


@pytest.mark.parametrize("Fr,shapes,M,P", [
    (1, [(5, 7)], 1, 1),
    (3, [(6, 5), (3, 3)], 2, 2),
    (5, [(4, 6), (2, 3), (1, 2)], 2, 3),
])
def test_kernel_matches_naive_loop(Fr, shapes, M, P):
    g = torch.Generator().manual_seed(Fr * 100 + M)
    B, Q, D, L = 2, 3, 4, len(shapes)
    N = sum(h * w for h, w in shapes)
    value = torch.randn(B, Fr, N, M, D, generator=g)
    value[1, :, :, :, :] *= 3.0
    locations = torch.rand(B, Q, M, Fr, L, P, 2, generator=g) * 1.6 - 0.3   # many points outside the map
    locations[0, 0, 0, 0, 0, 0] = torch.tensor([0.5 / shapes[0][1], 0.5 / shapes[0][0]])  # exactly on pixel (0, 0)
    weights = torch.rand(B, Q, M, Fr, L, P, generator=g)
    got = deformable_sample(value, shapes, locations, weights)
    want = naive_sample(value, shapes, locations, weights)
    assert got.shape == (B, Q, M * D)
    torch.testing.assert_close(got.double(), want, rtol=0, atol=1e-5)
    # the point exactly on the centre of pixel (0, 0) reads that pixel only
    single = torch.zeros_like(weights)
    single[0, 0, 0, 0, 0, 0] = 1.0
    got = deformable_sample(value, shapes, locations, single)
    torch.testing.assert_close(got[0, 0, :D], value[0, 0, 0, 0], rtol=0, atol=1e-6)


def test_joint_softmax_is_one_softmax_over_frames_levels_points():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 4, 3, 2, 5, generator=g, dtype=torch.float64)    # [B, Q, M, F, L, P]
    w = joint_softmax(logits)
    # official formulation: softmax inside each frame, then rescale frame f by S_f / sum S, S_f = sum exp
    e = logits.exp()
    per_frame = e / e.sum((-2, -1), keepdim=True)
    s_f = e.sum((-2, -1), keepdim=True)
    official = per_frame * s_f / s_f.sum(-3, keepdim=True)
    torch.testing.assert_close(w.double(), official, rtol=0, atol=1e-6)
    huge = joint_softmax(torch.full((1, 1, 1, 3, 2, 2), 1e4) + torch.arange(12.0).view(1, 1, 1, 3, 2, 2))
    assert torch.isfinite(huge).all()
    torch.testing.assert_close(huge.flatten(3).sum(-1), torch.ones(1, 1, 1))


def test_multi_frame_attention_with_padding_matches_naive():
    """Full module (projections, padding mask, valid ratios, offsets in cells) against a hand re-derivation."""
    torch.manual_seed(0)
    Fr, M, P, C = 3, 2, 2, 8
    shapes = [(6, 8), (3, 4)]
    attn = MultiFrameDeformableAttention(C, M, len(shapes), P, num_frames=Fr)
    with torch.no_grad():   # non-zero offset/weight layers so the test sees the query dependence
        attn.sampling_offsets.weight.normal_(0, 0.5)
        attn.attention_weights.weight.normal_(0, 0.5)
    B, Nq, N = 2, 4, sum(h * w for h, w in shapes)
    query = torch.randn(B, Nq, C)
    ref = torch.rand(B, Nq, Fr, 2)
    memory = torch.randn(B, Fr, N, C)
    # clip 1 is padded: valid 5 of 8 columns and 4 of 6 rows at level 0, 3 of 4 and 2 of 3 at level 1
    mask = torch.zeros(B, N, dtype=torch.bool)
    lv0 = torch.zeros(6, 8, dtype=torch.bool)
    lv0[:, 5:] = True
    lv0[4:, :] = True
    lv1 = torch.zeros(3, 4, dtype=torch.bool)
    lv1[:, 3:] = True
    lv1[2:, :] = True
    mask[1] = torch.cat([lv0.flatten(), lv1.flatten()])
    ratios = torch.tensor([[[1.0, 1.0], [1.0, 1.0]], [[5 / 8, 4 / 6], [3 / 4, 2 / 3]]])
    out, captured = attn(query, ref, memory, mask, shapes, ratios, return_attention=True)

    v = attn.value_proj(memory)
    v[mask[:, None, :, None].expand_as(v)] = 0.0
    v = v.view(B, Fr, N, M, C // M)
    off = torch.einsum("bqc,fco->bqfo", query, attn.sampling_offsets.weight) + attn.sampling_offsets.bias
    off = off.view(B, Nq, Fr, M, 2, P, 2)
    logit = (torch.einsum("bqc,fco->bqfo", query, attn.attention_weights.weight) + attn.attention_weights.bias)
    logit = logit.view(B, Nq, Fr, M, 2 * P)
    loc = torch.zeros(B, Nq, M, Fr, 2, P, 2)
    wts = torch.zeros(B, Nq, M, Fr, 2, P)
    for b in range(B):
        for q in range(Nq):
            for m in range(M):
                z = logit[b, q, :, m].flatten()                 # all F * L * P logits of this head
                soft = torch.exp(z - z.max()) / torch.exp(z - z.max()).sum()
                wts[b, q, m] = soft.view(Fr, 2, P)
                for f in range(Fr):
                    for lvl, (h, w) in enumerate(shapes):
                        for p in range(P):
                            loc[b, q, m, f, lvl, p, 0] = ref[b, q, f, 0] * ratios[b, lvl, 0] + off[b, q, f, m, lvl, p, 0] / w
                            loc[b, q, m, f, lvl, p, 1] = ref[b, q, f, 1] * ratios[b, lvl, 1] + off[b, q, f, m, lvl, p, 1] / h
    want = attn.output_proj(naive_sample(v, shapes, loc, wts).float())
    torch.testing.assert_close(captured["locations"], loc, rtol=0, atol=1e-5)
    torch.testing.assert_close(captured["weights"], wts, rtol=0, atol=1e-6)
    torch.testing.assert_close(out, want, rtol=0, atol=1e-5)


def test_radial_offset_init():
    attn = MultiFrameDeformableAttention(16, 4, 2, 3, num_frames=2)
    bias = attn.sampling_offsets.bias.view(2, 4, 2, 3, 2)     # [F, M, L, P, 2]
    # head 0 looks right (+x), head 1 down (+y), head 2 left, head 3 up; point p at p + 1 cells
    for p in range(3):
        torch.testing.assert_close(bias[1, 0, 1, p], torch.tensor([p + 1.0, 0.0]), atol=1e-6, rtol=0)
        torch.testing.assert_close(bias[0, 1, 0, p], torch.tensor([0.0, p + 1.0]), atol=1e-6, rtol=0)
        torch.testing.assert_close(bias[0, 2, 1, p], torch.tensor([-(p + 1.0), 0.0]), atol=1e-6, rtol=0)


@pytest.mark.parametrize("Fr", [1, 3])
def test_pose_aware_zero_init_samples_at_per_frame_keypoints(Fr):
    torch.manual_seed(Fr)
    C, M, K = 8, 2, 4
    shapes = [(5, 6), (3, 3)]
    attn = PoseAwareAttention(C, M, len(shapes), K, Fr)
    B, Q, N = 2, 3, sum(h * w for h, w in shapes)
    keypoints = torch.rand(B, Fr, Q, K, 2) * 0.8 + 0.1           # different keypoints in every frame
    ratios = torch.tensor([[[1.0, 1.0], [1.0, 1.0]], [[4 / 6, 3 / 5], [2 / 3, 2 / 3]]])
    memory = torch.randn(B, Fr, N, C)
    mask = torch.zeros(B, N, dtype=torch.bool)
    out, captured = attn(torch.randn(B, Q, C), keypoints, memory, mask, shapes, ratios, return_attention=True)
    loc = captured["locations"]                                  # [B, Q, M, F, L, K, 2]
    for b in range(B):
        for q in range(Q):
            for f in range(Fr):
                for lvl in range(len(shapes)):
                    for k in range(K):
                        want = keypoints[b, f, q, k] * ratios[b, lvl]
                        for m in range(M):
                            assert torch.equal(loc[b, q, m, f, lvl, k], want)
    # zero-initialised weights: uniform over the F * L * K points of a head
    torch.testing.assert_close(captured["weights"], torch.full_like(captured["weights"], 1 / (Fr * 2 * K)))
    v = attn.value_proj(memory).view(B, Fr, N, M, C // M)
    want = attn.output_proj(naive_sample(v, shapes, loc, captured["weights"]).float())
    torch.testing.assert_close(out, want, rtol=0, atol=1e-5)


def test_pose_aware_offsets_scale_with_per_frame_extent():
    torch.manual_seed(0)
    C, M, K, Fr = 8, 1, 3, 3
    attn = PoseAwareAttention(C, M, 1, K, Fr)
    with torch.no_grad():
        attn.sampling_offsets.bias.fill_(1.0)                    # every offset = (+1, +1)
    keypoints = torch.tensor([[[0.1, 0.2], [0.3, 0.6], [0.2, 0.4]],       # frame 0: extent (0.2, 0.4)
                              [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]],       # frame 1: degenerate -> 1e-4
                              [[0.0, 0.0], [0.8, 0.1], [0.4, 0.05]]])     # frame 2: extent (0.8, 0.1)
    keypoints = keypoints[None, :, None]                                   # [1, F, 1, K, 2]
    ratios = torch.tensor([[[0.5, 1.0]]])                                 # level padded to twice the width
    _, cap = attn(torch.randn(1, 1, C), keypoints, torch.randn(1, Fr, 16, C), torch.zeros(1, 16, dtype=torch.bool),
                  [(4, 4)], ratios, return_attention=True)
    loc = cap["locations"][0, 0, 0, :, 0]                                  # [F, K, 2]
    extents = torch.tensor([[0.2 * 0.5, 0.4], [1e-4, 1e-4], [0.8 * 0.5, 0.1]])
    want = keypoints[0, :, 0] * torch.tensor([0.5, 1.0]) + 0.5 * extents[:, None, :]
    torch.testing.assert_close(loc, want, rtol=0, atol=1e-6)
