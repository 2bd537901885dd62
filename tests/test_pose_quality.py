"""Pose quality: targets against a loop and hand-computed cases, the loss and scores by hand, gradients, inference with
the head off unchanged, and scores/postprocessing that use it."""
from __future__ import annotations

import math

import pytest
import torch

from pavenet_lite.config import get_config
from pavenet_lite.data.clips import PoseTrackClips, collate_clips
from pavenet_lite.joints import MODEL_OKS_SIGMAS
from pavenet_lite.losses import SetCriterion
from pavenet_lite.matcher import HungarianMatcher
from pavenet_lite.model import build_model
from pavenet_lite.model.inflate import init_from_checkpoint
from pavenet_lite.model.pose_quality import QUALITY_RADIUS, quality_loss, quality_scores, quality_targets
from pavenet_lite.model.postprocess import postprocess
from tests.conftest import FAST_MODEL


def loop_targets(pred, gt, ann, areas, radius=QUALITY_RADIUS):
    """Query by query: the person of highest OKS (written out), then joint by joint."""
    Q, K = pred.shape[:2]
    out = torch.zeros(Q, K)
    for q in range(Q):
        best, best_oks = None, -1.0
        for g in range(len(gt)):
            num = den = 0.0
            for k in range(K):
                if ann[g, k]:
                    d2 = float((pred[q, k] - gt[g, k]).pow(2).sum())
                    num += math.exp(-d2 / (2 * float(areas[g]) * (2 * MODEL_OKS_SIGMAS[k]) ** 2))
                    den += 1
            value = num / den if den else 0.0
            if value > best_oks:
                best, best_oks = g, value
        for k in range(K):
            if best is not None and ann[best, k]:
                d2 = float((pred[q, k] - gt[best, k]).pow(2).sum())
                out[q, k] = math.exp(-d2 / (2 * radius ** 2 * float(areas[best])))
    return out


def test_targets_match_a_loop():
    gen = torch.Generator().manual_seed(0)
    K = 15
    gt = torch.rand(3, K, 2, generator=gen)
    ann = torch.rand(3, K, generator=gen) > 0.3
    areas = 0.02 + 0.1 * torch.rand(3, generator=gen)
    pred = gt[torch.tensor([0, 1, 2, 0, 2, 1, 0])] + 0.03 * torch.randn(7, K, 2, generator=gen)
    target = {"keypoints": gt, "annotated": ann, "areas": areas}
    got = quality_targets(pred, target)
    torch.testing.assert_close(got, loop_targets(pred, gt, ann, areas), rtol=0, atol=1e-6)
    assert got.max() > 0.5                         # some joints are close: the test is not all zeros


def test_hand_computed_targets():
    K = 15
    gt = torch.full((1, K, 2), 0.5)
    ann = torch.ones(1, K, dtype=torch.bool)
    ann[0, 3] = False
    area = 0.04
    half = QUALITY_RADIUS * math.sqrt(area) * math.sqrt(2 * math.log(2))   # the distance where the target is 1/2
    pred = gt.clone().repeat(2, 1, 1)
    pred[1, :, 0] += half
    t = quality_targets(pred, {"keypoints": gt, "annotated": ann, "areas": torch.tensor([area])})
    assert t[0, 3] == 0 and t[1, 3] == 0                     # not annotated
    assert torch.allclose(t[0, ann[0]], torch.ones(K - 1))   # on the person
    assert torch.allclose(t[1, ann[0]], torch.full((K - 1,), 0.5))
    empty = {"keypoints": torch.zeros(0, K, 2), "annotated": torch.zeros(0, K, dtype=torch.bool),
             "areas": torch.zeros(0)}
    assert quality_targets(pred, empty).abs().sum() == 0


def test_loss_and_scores_by_hand():
    K = 15
    gt = torch.full((1, K, 2), 0.5)
    target = {"keypoints": gt, "annotated": torch.ones(1, K, dtype=torch.bool), "areas": torch.tensor([0.04])}
    logits = torch.zeros(1, 1, K)                             # p = 1/2 everywhere
    # On the person: target 1 -> BCE = log 2 per joint.
    assert quality_loss(logits, gt[None], [target]).item() == pytest.approx(math.log(2))
    cls = torch.tensor([[math.log(0.64 / 0.36)]])             # p = 0.64
    q = torch.full((1, 1, K), math.log(0.25 / 0.75))          # quality 0.25
    person, joints = quality_scores(cls, q)
    assert person.item() == pytest.approx(0.4) and torch.allclose(joints, torch.full((1, 1, K), 0.4))


def _batch(data, frames):
    ds = PoseTrackClips(data, "train", num_frames=frames, max_size=FAST_MODEL["max_size"], train=True, seed=0)
    return collate_clips([ds[0], ds[len(ds) - 1]])


@pytest.mark.parametrize("frames", [1, 3])
def test_quality_loss_reaches_the_head_and_the_pose_decoder_only(synth_small, frames):
    torch.manual_seed(0)
    cfg = get_config("tiny", num_frames=frames, loss_quality=1.0, **FAST_MODEL)
    model = build_model(cfg)
    criterion = SetCriterion(cfg, HungarianMatcher.from_config(cfg))
    clips, masks, targets = _batch(synth_small, frames)
    outputs = model(clips, masks, select=criterion.selector(targets))
    assert outputs["pred_quality"].shape == (2, cfg.num_queries, cfg.num_keypoints)
    terms = criterion(outputs, targets, model.flows)
    model.zero_grad()
    terms["loss_quality_dec"].backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    for prefix in ("pose_quality.", "pose_decoder.", "encoder.", "backbone."):
        assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if n.startswith(prefix)), prefix
    # Targets are detached: the last keypoint refiner is not pulled towards easy-to-score poses through them (earlier
    # ones move where the last layer samples, so they do get gradient), and the person-score heads are not involved.
    for prefix in ("cls_heads.", f"pose_decoder.refine.{cfg.pose_layers - 1}.", "joint_decoder."):
        assert all(g is None or g.abs().sum() == 0 for n, g in grads.items() if n.startswith(prefix)), prefix


def test_without_the_head_nothing_changes(synth_small):
    clips, masks, _ = _batch(synth_small, 3)
    outs = []
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        model = build_model(get_config("tiny", num_frames=3, loss_quality=weight, **FAST_MODEL)).eval()
        with torch.no_grad():
            outs.append(model(clips, masks))
    plain, with_head = outs
    assert "pred_quality" not in plain and "pred_quality" in with_head
    for key in ("pred_logits", "pred_keypoints", "pred_sigmas"):
        assert torch.equal(plain[key], with_head[key])


def test_postprocess_ranks_and_scores_by_quality():
    B, Q, K = 1, 3, 15
    logits = torch.tensor([[2.0, 0.0, -1.0]])                 # person scores alone rank 0, 1, 2
    quality = torch.tensor([-6.0, 3.0, 0.0])[None, :, None].expand(B, Q, K).clone()
    quality[0, 1, 0] = -3.0                                    # one poor joint of query 1
    outputs = {"pred_logits": logits, "pred_keypoints": torch.rand(B, Q, K, 2), "pred_sigmas": torch.rand(B, Q, K, 2),
               "pred_quality": quality}
    result = postprocess(outputs, torch.tensor([[100, 200]]))[0]
    person, joints = quality_scores(logits, quality)
    assert result["query_index"].tolist() == person[0].argsort(descending=True).tolist() == [1, 2, 0]
    torch.testing.assert_close(result["scores"], person[0, [1, 2, 0]])
    torch.testing.assert_close(result["keypoint_scores"], joints[0, [1, 2, 0]])
    assert result["keypoint_scores"][0, 0] < result["keypoint_scores"][0, 1]


def test_a_model_without_the_head_initialises_one_with_it(synth_small):
    torch.manual_seed(0)
    plain = build_model(get_config("tiny", num_frames=1, **FAST_MODEL))
    model = build_model(get_config("tiny", num_frames=1, loss_quality=1.0, **FAST_MODEL))
    fresh = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("pose_quality.")}
    init_from_checkpoint(model, {"config": {"num_frames": 1}, "model": plain.state_dict()}, 1)
    for k, v in plain.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    for k, v in fresh.items():
        assert torch.equal(model.state_dict()[k], v), k
