"""The stride-4 level: its memory layout by hand, what reads it, gradients, inflation, and the rest left unchanged."""
from __future__ import annotations

import pytest
import torch

from pavenet_lite.config import get_config
from pavenet_lite.losses import SetCriterion
from pavenet_lite.matcher import HungarianMatcher
from pavenet_lite.model import build_model
from pavenet_lite.model.inflate import inflate_state_dict
from pavenet_lite.model.pavenet import PAVENet
from tests.conftest import FAST_MODEL
from tests.test_joint_heatmap import _batch
from tests.test_model import stand_in_loss


def fine(**kw):
    return get_config("tiny", fine_level=True, dropout=0.0, **kw)


def padded_batch(Fr: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A 64 x 64 padded batch of a 64 x 44 (w x h) clip and a 40 x 64 one: 44 rows keep 6 of 8 stride-8 rows but
    11 of 16 stride-4 rows, so the two levels' valid ratios differ."""
    g = torch.Generator().manual_seed(0)
    clips = torch.randn(2, Fr, 3, 64, 64, generator=g)
    masks = torch.zeros(2, 64, 64, dtype=torch.bool)
    masks[0, 44:, :] = True
    masks[1, :, 40:] = True
    return clips, masks


def test_joint_memory_layout_by_hand():
    """Encoder levels first, then the stride-4 tokens row by row, its own mask and valid ratios, per query group."""
    B, Fr, G, C = 2, 3, 2, 4
    shapes = [(8, 8), (4, 4)]
    N = 80
    memory = torch.randn(B * G, Fr, N, C)
    mask = torch.zeros(B * G, N, dtype=torch.bool)
    ratios = torch.rand(B * G, 2, 2)
    fine_map = torch.randn(B * Fr, C, 16, 16)
    _, masks = padded_batch(Fr)
    mem, msk, shp, rat = PAVENet._with_fine_level(fine_map, masks, memory, mask, shapes, ratios, G)
    assert shp == [(8, 8), (4, 4), (16, 16)]
    assert mem.shape == (B * G, Fr, N + 256, C) and msk.shape == (B * G, N + 256)
    assert torch.equal(mem[:, :, :N], memory) and torch.equal(rat[:, :2], ratios)
    for b in range(B):
        for g in range(G):
            for f in range(Fr):
                for i in (0, 7, 15):
                    for j in (0, 9, 15):
                        assert torch.equal(mem[b * G + g, f, N + i * 16 + j], fine_map[b * Fr + f, :, i, j])
    # clip 0: rows 0..10 are image (pixel 4 i < 44); clip 1: columns 0..9 (pixel 4 j < 40)
    want_ratio = torch.tensor([[1.0, 11 / 16], [10 / 16, 1.0]]).repeat_interleave(G, 0)
    torch.testing.assert_close(rat[:, 2], want_ratio)
    assert (~msk[:, N:]).sum(1).tolist() == [16 * 11] * G + [10 * 16] * G


@pytest.mark.parametrize("Fr", [1, 3])
def test_joint_decoder_reads_the_fine_level_at_its_references(Fr):
    """At initialisation the joint decoder's samples on the stride-4 level are centred on its reference joints
    (the radial offset grid averages to zero): the new level is placed in the same pixels as the others."""
    torch.manual_seed(0)
    cfg = fine(num_frames=Fr)
    model = build_model(cfg).eval()
    clips, masks = padded_batch(Fr)
    with torch.no_grad():
        out = model(clips, masks, return_attention=True)
    L, R, K = cfg.num_levels, 2 * cfg.num_refine, cfg.num_keypoints
    att = out["attention"]["joint_decoder"][0]
    assert att["locations"].shape == (R, K, cfg.num_heads, Fr, L + 1, cfg.joint_points, 2)
    sizes = torch.tensor([[64.0, 44.0], [40.0, 64.0]])
    b, q = out["refine_batch_index"], out["refine_query_index"]
    refs = out["frame_keypoints"][b, :, q]                                       # [R, F, K, 2]
    want = refs * sizes[b][:, None, None] - 0.5
    centre = att["locations"][:, :, :, :, L].mean((2, 4)).permute(0, 2, 1, 3)   # [R, F, K, 2]
    torch.testing.assert_close(centre, want, rtol=0, atol=1e-3)


def test_gradients_reach_the_fine_level_through_both_readers(synth_small):
    torch.manual_seed(0)
    cfg = fine(num_frames=3, loss_hm=1.0, **FAST_MODEL)
    model = build_model(cfg)
    criterion = SetCriterion(cfg, HungarianMatcher.from_config(cfg))
    clips, masks, targets = _batch(synth_small, 3)
    outputs = model(clips, masks, select=criterion.selector(targets))
    H, W = clips.shape[-2:]
    assert outputs["heatmap"]["logits"].shape[-2:] == ((H + 3) // 4, (W + 3) // 4)   # stride 4, not 8
    terms = criterion(outputs, targets, model.flows)
    refine = [k for k in terms if k.startswith("loss_rle_refine") or k.startswith("loss_l1_refine")]
    assert refine
    for names in (refine, ["loss_hm_enc"]):
        model.zero_grad()
        sum(terms[k] for k in names).backward(retain_graph=True)
        grads = {n: p.grad for n, p in model.named_parameters()}
        for prefix in ("fine_level.lateral.", "fine_level.blend.", "backbone.layer1.", "encoder."):
            assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if n.startswith(prefix)), \
                (names, prefix)


def test_every_parameter_learns_with_the_fine_level():
    torch.manual_seed(0)
    model = build_model(fine(num_frames=3))
    clips, masks = padded_batch(3)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    for _ in range(2):
        opt.zero_grad()
        stand_in_loss(model, model(clips, masks)).backward()
        opt.step()
    dead = [n for n, p in model.named_parameters() if p.requires_grad and not p.grad.abs().sum() > 0]
    assert dead == []


def test_switching_it_on_leaves_the_other_weights_alone():
    """Same seed, same weights for every parameter both models have with the same shape; only the joint decoder's
    per-level layers grow by one level and `fine_level.*` is new."""
    states = []
    for on in (False, True):
        torch.manual_seed(0)
        states.append(build_model(get_config("tiny", fine_level=on)).state_dict())
    off, on = states
    assert set(on) - set(off) == {k for k in on if k.startswith("fine_level.")} != set()
    grown = [k for k in off if on[k].shape != off[k].shape]
    assert grown and all(".cross_attn.sampling_offsets." in k or ".cross_attn.attention_weights." in k
                         for k in grown) and all(k.startswith("joint_decoder.") for k in grown)
    assert all(torch.equal(on[k], off[k]) for k in off if k not in grown)


def test_inflates_from_an_image_model():
    torch.manual_seed(0)
    image = build_model(fine(num_frames=1))
    video = build_model(fine(num_frames=3))
    video.load_state_dict(inflate_state_dict(image.state_dict(), 1, video, 3))
    assert torch.equal(video.fine_level.blend[0].weight, image.fine_level.blend[0].weight)
