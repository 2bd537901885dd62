"""Pose denoising: noise bounds of positives and negatives, isolation from the matching queries, the known-pairing
losses against a loop, gradients, and inference unchanged."""
from __future__ import annotations

import math

import pytest
import torch

from pavenet_lite.config import get_config
from pavenet_lite.data.clips import PoseTrackClips, collate_clips
from pavenet_lite.losses import SetCriterion
from pavenet_lite.matcher import HungarianMatcher
from pavenet_lite.model import build_model
from pavenet_lite.model.pose_denoising import noised_poses
from tests.conftest import FAST_MODEL

NOISE = 0.2


def test_positives_and_negatives_stay_in_their_noise_bands():
    torch.manual_seed(0)
    K = 15
    keypoints = torch.rand(2, K, 2) * 0.4 + 0.3                       # inside [0.3, 0.7]: no clamping below
    annotated = torch.ones(2, K, dtype=torch.bool)
    annotated[1, :5] = False
    areas = torch.tensor([0.04, 0.09])                                # s = 0.2, 0.3
    rows = noised_poses(keypoints, annotated, areas, slots=3, noise=NOISE)
    assert rows.shape == (6, K, 2) and rows.min() >= 0 and rows.max() <= 1
    centre1 = keypoints[1, 5:].mean(0)
    for g, s in enumerate((0.2, 0.3)):
        gt = keypoints[g].clone()
        if g == 1:
            gt[:5] = centre1                                          # unannotated joints start at the centre
        pos = (rows[g] - gt).abs()                                    # slot g: positive of person g
        neg = (rows[3 + g] - gt).abs()                                # slot 3 + g: its negative
        assert pos.max() < NOISE * s
        assert neg.min() >= NOISE * s - 1e-6 and neg.max() < 2 * NOISE * s
    # the empty slots 2 and 5 hold a person's shape somewhere else: negatives far from both people
    for free in (2, 5):
        assert all((rows[free] - keypoints[g]).abs().max() > 2 * NOISE * 0.3 for g in range(2))


def test_nobody_gives_random_rows():
    rows = noised_poses(torch.zeros(0, 15, 2), torch.zeros(0, 15, dtype=torch.bool), torch.zeros(0), 2, NOISE)
    assert rows.shape == (4, 15, 2) and torch.isfinite(rows).all()


@pytest.fixture()
def batch(synth_small):
    ds = PoseTrackClips(synth_small, "train", num_frames=3, max_size=96, train=False)
    return collate_clips([ds[0], ds[len(ds) - 1]])


def _model(dn_groups: int):
    torch.manual_seed(0)
    cfg = get_config("tiny", num_frames=3, dn_groups=dn_groups, dn_noise=NOISE, **FAST_MODEL)
    return cfg, build_model(cfg).train()


def test_matching_queries_never_see_the_denoising_rows(batch):
    clips, masks, targets = batch
    cfg, model = _model(2)
    torch.manual_seed(1)
    plain = model(clips, masks)
    torch.manual_seed(1)
    with_dn = model(clips, masks, targets=targets)
    assert "dn_outputs" not in plain and len(with_dn["dn_outputs"]) == cfg.pose_layers
    for key in ("pred_logits", "pred_keypoints", "pred_sigmas", "frame_keypoints"):
        torch.testing.assert_close(with_dn[key], plain[key], rtol=0, atol=0)
    G_max = max(len(t["keypoints"]) for t in targets)
    assert with_dn["dn_outputs"][0]["pred_logits"].shape == (2 * len(targets), 2 * G_max)
    assert with_dn["dn_outputs"][-1]["pred_keypoints"].shape == (2 * len(targets), 2 * G_max, cfg.num_keypoints, 2)


def test_denoising_losses_use_the_known_pairing(batch):
    clips, masks, targets = batch
    cfg, model = _model(2)
    criterion = SetCriterion(cfg, HungarianMatcher.from_config(cfg))
    outputs = model(clips, masks, select=criterion.selector(targets), targets=targets)
    terms = criterion(outputs, targets, model.flows)
    assert {f"loss_{k}_dn_{d}" for k in ("cls", "rle", "l1") for d in range(cfg.pose_layers)} <= set(terms)
    layer = outputs["dn_outputs"][0]
    focal = l1 = 0.0
    positives = coords = 0
    a, gamma = cfg.focal_alpha, cfg.focal_gamma
    for row in range(layer["pred_logits"].shape[0]):
        t = targets[row // 2]
        for i, logit in enumerate(layer["pred_logits"][row].tolist()):
            p = 1 / (1 + math.exp(-logit))
            if i < len(t["keypoints"]):                                 # positive of person i
                focal += -a * (1 - p) ** gamma * math.log(p)
                positives += 1
                for k in range(cfg.num_keypoints):
                    if t["annotated"][i, k]:
                        l1 += (layer["pred_keypoints"][row, i, k] - t["keypoints"][i, k]).abs().sum().item()
                        coords += 2
            else:                                                       # negative or empty slot
                focal += -(1 - a) * p ** gamma * math.log(1 - p)
    assert terms["loss_cls_dn_0"].item() == pytest.approx(focal / positives, rel=1e-4)
    assert terms["loss_l1_dn_0"].item() == pytest.approx(l1 / coords, rel=1e-4)
    terms["loss"].backward()
    assert model.denoising.embed.weight.grad.abs().sum() > 0


def test_inference_is_unchanged_by_the_denoising_parameters(batch):
    clips, masks, targets = batch
    _, plain = _model(0)
    _, dn = _model(2)
    assert not any(k.startswith("denoising.") for k in plain.state_dict())
    dn.load_state_dict(plain.state_dict(), strict=False)
    plain.eval(), dn.eval()
    with torch.no_grad():
        a, b = plain(clips, masks), dn(clips, masks, targets=targets)
    assert "dn_outputs" not in b
    torch.testing.assert_close(b["pred_logits"], a["pred_logits"], rtol=0, atol=0)
    torch.testing.assert_close(b["refine_outputs"][-1]["pred_keypoints"], a["refine_outputs"][-1]["pred_keypoints"],
                               rtol=0, atol=0)
