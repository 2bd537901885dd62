"""Auxiliary joint heatmaps: targets and focal loss against plain loops, gradients, and inference left unchanged."""
from __future__ import annotations

import math

import pytest
import torch

from pavenet_lite.config import get_config
from pavenet_lite.data.clips import PoseTrackClips, collate_clips
from pavenet_lite.losses import SetCriterion
from pavenet_lite.matcher import HungarianMatcher
from pavenet_lite.model import build_model
from pavenet_lite.model.joint_heatmap import heatmap_focal_loss, heatmap_targets
from tests.conftest import FAST_MODEL


def loop_targets(keypoints, annotated, ratio, shape, sigma=1.0):
    """Cell by cell, joint by joint, person by person."""
    H, W = shape
    K = keypoints.shape[1]
    out = [[[0.0] * W for _ in range(H)] for _ in range(K)]
    for g in range(keypoints.shape[0]):
        for k in range(K):
            if not annotated[g, k]:
                continue
            cx = round(float(keypoints[g, k, 0]) * float(ratio[0]) * W - 0.5)
            cy = round(float(keypoints[g, k, 1]) * float(ratio[1]) * H - 0.5)
            if not (0 <= cx < W and 0 <= cy < H):
                continue
            for i in range(H):
                for j in range(W):
                    v = math.exp(-((j - cx) ** 2 + (i - cy) ** 2) / (2 * sigma ** 2))
                    out[k][i][j] = max(out[k][i][j], v)
    return torch.tensor(out)


def test_targets_match_a_loop():
    gen = torch.Generator().manual_seed(0)
    kp = torch.rand(3, 5, 2, generator=gen) * 1.2 - 0.1       # some joints fall outside the map
    ann = torch.rand(3, 5, generator=gen) > 0.3
    ratio = torch.tensor([0.75, 1.0])                          # a quarter of the width is padding
    got = heatmap_targets(kp, ann, ratio, (6, 8))
    want = loop_targets(kp, ann, ratio, (6, 8))
    assert got.shape == (5, 6, 8)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    assert (got == 1.0).any()                                   # peaks are exactly 1


def test_a_joint_at_a_cell_centre_peaks_there():
    # Cell (i=2, j=3) of a 4 x 6 map over the whole image has its centre at ((3 + 0.5) / 6, (2 + 0.5) / 4).
    kp = torch.tensor([[[3.5 / 6, 2.5 / 4]]])
    maps = heatmap_targets(kp, torch.tensor([[True]]), torch.tensor([1.0, 1.0]), (4, 6))
    assert maps[0, 2, 3] == 1.0 and maps[0, 2, 4] == pytest.approx(math.exp(-0.5))
    assert heatmap_targets(kp[:0], torch.zeros(0, 1, dtype=torch.bool), torch.ones(2), (4, 6)).abs().sum() == 0


def test_focal_loss_matches_a_loop():
    gen = torch.Generator().manual_seed(1)
    logits = 2 * torch.randn(2, 3, 4, 5, generator=gen)
    targets = torch.rand(2, 3, 4, 5, generator=gen)
    targets[0, 1, 2, 3] = targets[1, 0, 0, 0] = 1.0
    valid = torch.rand(2, 4, 5, generator=gen) > 0.2
    want = 0.0
    for b in range(2):
        for k in range(3):
            for i in range(4):
                for j in range(5):
                    if not valid[b, i, j]:
                        continue
                    p, t = 1 / (1 + math.exp(-float(logits[b, k, i, j]))), float(targets[b, k, i, j])
                    want += -(1 - p) ** 2 * math.log(p) if t == 1.0 else -(1 - t) ** 4 * p ** 2 * math.log(1 - p)
    assert heatmap_focal_loss(logits, targets, valid).item() == pytest.approx(want, rel=1e-5)


def _batch(data, frames):
    ds = PoseTrackClips(data, "train", num_frames=frames, max_size=FAST_MODEL["max_size"], train=True, seed=0)
    return collate_clips([ds[0], ds[len(ds) - 1]])


@pytest.mark.parametrize("frames", [1, 3])
def test_heatmap_loss_reaches_the_encoder_and_backbone(synth_small, frames):
    torch.manual_seed(0)
    cfg = get_config("tiny", num_frames=frames, loss_hm=1.0, **FAST_MODEL)
    model = build_model(cfg)
    criterion = SetCriterion(cfg, HungarianMatcher.from_config(cfg))
    clips, masks, targets = _batch(synth_small, frames)
    outputs = model(clips, masks, select=criterion.selector(targets))
    hm = outputs["heatmap"]
    assert hm["logits"].shape[:2] == (2, cfg.num_keypoints) and hm["valid"].shape == (2, *hm["logits"].shape[-2:])
    terms = criterion(outputs, targets, model.flows)
    assert terms["loss_hm_enc"] > 0
    model.zero_grad()
    terms["loss_hm_enc"].backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    for prefix in ("heatmap_head.", "encoder.", "neck.", "backbone."):
        assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if n.startswith(prefix)), prefix
    # The decoders do not take part in this term.
    assert all(g is None or g.abs().sum() == 0 for n, g in grads.items() if n.startswith("pose_decoder."))


def test_inference_is_unchanged_by_the_heatmap_head(synth_small):
    clips, masks, _ = _batch(synth_small, 3)
    outs = []
    for loss_hm in (0.0, 2.0):
        torch.manual_seed(0)
        model = build_model(get_config("tiny", num_frames=3, loss_hm=loss_hm, **FAST_MODEL)).eval()
        with torch.no_grad():
            outs.append(model(clips, masks))
    plain, with_head = outs
    assert "heatmap" not in with_head
    for key in ("pred_logits", "pred_keypoints", "pred_sigmas"):
        assert torch.equal(plain[key], with_head[key])
    assert torch.equal(plain["refine_outputs"][-1]["pred_keypoints"], with_head["refine_outputs"][-1]["pred_keypoints"])
