"""Postprocess: top-k people in original-frame pixels, keypoint confidence and OKS-NMS, by hand."""
from __future__ import annotations

import math

import torch

from pavenet_lite.model.postprocess import keypoint_confidence, oks_nms_indices, postprocess


def fake_outputs() -> dict:
    """2 clips, Q = 3 pose queries; the joint decoder refined queries (0: 2, 0) and (1: 1)."""
    logits = torch.tensor([[0.0, -1.0, 2.0], [1.0, 3.0, -2.0]])
    kpts = torch.full((3, 2, 2), 0.5)                            # K = 2 joints
    kpts[0] = torch.tensor([[0.25, 0.5], [0.75, 1.2]])         # clip 0, query 2 (y beyond the frame -> clamp)
    kpts[1] = torch.tensor([[0.1, 0.2], [0.3, 0.4]])           # clip 0, query 0
    kpts[2] = torch.tensor([[0.5, 0.5], [1.0, 0.0]])           # clip 1, query 1
    sig = torch.full((3, 2, 2), 0.1)
    sig[0, 1] = torch.tensor([0.2, 0.4])
    return {"pred_logits": logits, "pred_keypoints": torch.rand(2, 3, 2, 2), "pred_sigmas": torch.rand(2, 3, 2, 2),
            "refine_outputs": [{"pred_keypoints": torch.rand(3, 2, 2), "pred_sigmas": torch.rand(3, 2, 2)},
                               {"pred_keypoints": kpts, "pred_sigmas": sig}],
            "refine_batch_index": torch.tensor([0, 0, 1]), "refine_query_index": torch.tensor([2, 0, 1])}


def test_postprocess_by_hand():
    out = fake_outputs()
    targets = [{"orig_size": torch.tensor([100, 200])}, {"orig_size": torch.tensor([50, 80])}]   # (h, w)
    res = postprocess(out, targets, top_k=2)
    sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    r0 = res[0]
    assert r0["query_index"].tolist() == [2, 0]                 # sorted by score: logit 2.0 then 0.0
    torch.testing.assert_close(r0["scores"], torch.tensor([sig(2.0), sig(0.0)]))
    # x * w - 0.5 (edge-based normalised -> pixel centres), clamped to the last pixel
    torch.testing.assert_close(r0["keypoints"][0], torch.tensor([[49.5, 49.5], [149.5, 99.0]]))  # y clamped to h - 1
    torch.testing.assert_close(r0["keypoints"][1], torch.tensor([[19.5, 19.5], [59.5, 39.5]]))
    p = lambda sx, sy: 0.7 * (1 - math.exp(-0.2 / sx)) * (1 - math.exp(-0.2 / sy))  # noqa: E731
    torch.testing.assert_close(r0["keypoint_scores"][0], torch.tensor([sig(2.0) * p(0.1, 0.1), sig(2.0) * p(0.2, 0.4)]))
    torch.testing.assert_close(r0["boxes"][0], torch.tensor([49.5, 49.5, 149.5, 99.0]))
    r1 = res[1]
    assert r1["query_index"].tolist() == [1]
    torch.testing.assert_close(r1["keypoints"][0], torch.tensor([[39.5, 24.5], [79.0, 0.0]]))
    assert len(postprocess(out, torch.tensor([[100, 200], [50, 80]]), top_k=1)[0]["scores"]) == 1


def test_postprocess_without_joint_decoder_uses_pose_queries():
    out = fake_outputs()
    out["refine_outputs"] = []
    res = postprocess(out, torch.tensor([[10, 10], [10, 10]]), top_k=3)
    assert res[1]["query_index"].tolist() == [1, 0, 2]
    torch.testing.assert_close(res[1]["keypoints"][0], (out["pred_keypoints"][1, 1] * 10 - 0.5).clamp(0, 9))


def test_keypoint_confidence_and_oks_nms():
    torch.testing.assert_close(keypoint_confidence(torch.tensor([[0.2, 0.1]])),
                               torch.tensor([0.7 * (1 - math.exp(-1)) * (1 - math.exp(-2))]))
    base = torch.tensor([[10.0, 10.0], [50.0, 90.0], [30.0, 40.0]]).repeat(5, 1)[:15]   # [K, 2]
    poses = torch.stack([base, base + 0.5, base + 200.0])      # a near-duplicate and a far pose
    keep = oks_nms_indices(poses, torch.tensor([0.5, 0.9, 0.3]))
    assert keep.tolist() == [1, 2]
