"""HungarianMatcher against brute force, a hand-computed 2x2 case and the degenerate cases."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from pavenet_lite.joints import K, MODEL_OKS_SIGMAS
from pavenet_lite.matcher import HungarianMatcher

W_CLS, W_KPT, W_OKS, ALPHA, GAMMA = 2.0, 70.0, 7.0, 0.25, 2.0


def reference_cost(logits, kpts, gt, ann, areas):
    """Cost matrix [Q][G] by explicit loops over queries, people and joints (spec §3)."""
    cost = np.zeros((len(logits), len(gt)))
    for q in range(len(logits)):
        p = 1 / (1 + math.exp(-float(logits[q])))
        c_cls = (-ALPHA * (1 - p) ** GAMMA * math.log(p + 1e-12)
                 + (1 - ALPHA) * p ** GAMMA * math.log(1 - p + 1e-12))
        for g in range(len(gt)):
            l1, sim, n = 0.0, 0.0, 0
            for k in range(K):
                if not ann[g][k]:
                    continue
                n += 1
                dx, dy = float(kpts[q][k][0] - gt[g][k][0]), float(kpts[q][k][1] - gt[g][k][1])
                l1 += abs(dx) + abs(dy)
                sim += math.exp(-(dx * dx + dy * dy) / (2 * float(areas[g]) * (2 * MODEL_OKS_SIGMAS[k]) ** 2))
            c_kpt = l1 / (2 * n) if n else 0.0
            c_oks = -sim / n if n else 0.0
            cost[q, g] = W_CLS * c_cls + W_KPT * c_kpt + W_OKS * c_oks
    return cost


def brute_force_min(cost):
    """Minimum total cost over all one-to-one assignments of min(Q, G) pairs."""
    num_q, num_g = cost.shape
    if num_q >= num_g:
        return min(sum(cost[p[g], g] for g in range(num_g)) for p in itertools.permutations(range(num_q), num_g))
    return min(sum(cost[q, p[q]] for q in range(num_q)) for p in itertools.permutations(range(num_g), num_q))


def random_clip(gen, num_q, num_g):
    gt = torch.rand(num_g, K, 2, generator=gen)
    ann = torch.rand(num_g, K, generator=gen) > 0.3
    if num_g > 1:
        ann[0] = False  # one person without any annotated joint
    target = {"keypoints": gt, "annotated": ann, "areas": 0.02 + 0.2 * torch.rand(num_g, generator=gen)}
    # some queries close to a person so that OKS is not always ~0
    kpts = torch.rand(num_q, K, 2, generator=gen)
    for q in range(min(num_q, num_g)):
        kpts[q] = gt[(q * 3) % num_g] + 0.02 * torch.randn(K, 2, generator=gen)
    logits = 2 * torch.randn(num_q, generator=gen)
    return logits, kpts, target


def test_matcher_optimal_against_brute_force():
    gen = torch.Generator().manual_seed(0)
    matcher = HungarianMatcher(W_CLS, W_KPT, W_OKS, ALPHA, GAMMA)
    for _ in range(40):
        num_q, num_g = int(torch.randint(1, 7, (1,), generator=gen)), int(torch.randint(0, 5, (1,), generator=gen))
        logits, kpts, target = random_clip(gen, num_q, num_g)
        outputs = {"pred_logits": logits[None], "pred_keypoints": kpts[None]}
        (qi, gi), = matcher(outputs, [target])
        assert qi.dtype == gi.dtype == torch.int64
        assert len(qi) == len(gi) == min(num_q, num_g)
        assert len(set(qi.tolist())) == len(qi) and len(set(gi.tolist())) == len(gi)
        if num_g == 0:
            continue
        ref = reference_cost(logits, kpts, target["keypoints"], target["annotated"], target["areas"])
        np.testing.assert_allclose(matcher.cost_matrix(logits, kpts, target).numpy(), ref, rtol=1e-4, atol=1e-4)
        total = sum(ref[q, g] for q, g in zip(qi.tolist(), gi.tolist()))
        assert total == pytest.approx(brute_force_min(ref), abs=1e-6)


def test_two_by_two_hand_computed():
    # Only the nose (joint 0, sigma 0.026) is annotated; query 0 sits next to person 1 and query 1 next to person 0.
    gt = torch.zeros(2, K, 2)
    gt[0, 0] = torch.tensor([0.2, 0.2])
    gt[1, 0] = torch.tensor([0.8, 0.8])
    ann = torch.zeros(2, K, dtype=torch.bool)
    ann[:, 0] = True
    target = {"keypoints": gt, "annotated": ann, "areas": torch.tensor([0.04, 0.04])}
    kpts = torch.full((2, K, 2), 0.5)
    kpts[0, 0] = torch.tensor([0.81, 0.80])
    kpts[1, 0] = torch.tensor([0.20, 0.22])
    logits = torch.tensor([0.0, math.log(3.0)])  # p = 0.5 and p = 0.75

    def focal(p):
        return -0.25 * (1 - p) ** 2 * math.log(p) + 0.75 * p ** 2 * math.log(1 - p)

    def neg_oks(d2):
        return -math.exp(-d2 / (2 * 0.04 * (2 * 0.026) ** 2))

    expected = np.array([
        [2 * focal(0.5) + 70 * (0.61 + 0.60) / 2 + 7 * neg_oks(0.61 ** 2 + 0.60 ** 2),
         2 * focal(0.5) + 70 * 0.01 / 2 + 7 * neg_oks(0.01 ** 2)],
        [2 * focal(0.75) + 70 * 0.02 / 2 + 7 * neg_oks(0.02 ** 2),
         2 * focal(0.75) + 70 * (0.60 + 0.58) / 2 + 7 * neg_oks(0.60 ** 2 + 0.58 ** 2)],
    ])
    matcher = HungarianMatcher()
    np.testing.assert_allclose(matcher.cost_matrix(logits, kpts, target).numpy(), expected, rtol=1e-5)
    (qi, gi), = matcher({"pred_logits": logits[None], "pred_keypoints": kpts[None]}, [target])
    assert qi.tolist() == [0, 1] and gi.tolist() == [1, 0]


def test_zero_gt_and_unannotated_people():
    gen = torch.Generator().manual_seed(1)
    matcher = HungarianMatcher()
    outputs = {"pred_logits": torch.randn(2, 5, generator=gen), "pred_keypoints": torch.rand(2, 5, K, 2, generator=gen)}
    empty = {"keypoints": torch.zeros(0, K, 2), "annotated": torch.zeros(0, K, dtype=torch.bool),
             "areas": torch.zeros(0)}
    nothing_annotated = {"keypoints": torch.rand(3, K, 2, generator=gen), "annotated": torch.zeros(3, K, dtype=torch.bool),
                         "areas": torch.zeros(3)}
    (q0, g0), (q1, g1) = matcher(outputs, [empty, nothing_annotated])
    assert len(q0) == len(g0) == 0
    cost = matcher.cost_matrix(outputs["pred_logits"][1], outputs["pred_keypoints"][1], nothing_annotated)
    assert torch.isfinite(cost).all()
    # Without keypoint evidence only the classification cost decides: the 3 most confident queries are matched.
    assert sorted(q1.tolist()) == sorted(outputs["pred_logits"][1].topk(3).indices.tolist())
    assert sorted(g1.tolist()) == [0, 1, 2]


def test_valid_mask_excludes_padding_queries():
    gen = torch.Generator().manual_seed(2)
    logits, kpts, target = random_clip(gen, 6, 3)
    target["annotated"][:] = True
    kpts[:3] = target["keypoints"]          # queries 0-2 are perfect ...
    logits[:3] = 5.0
    valid = torch.tensor([[False, False, True, True, True, True]])  # ... but 0 and 1 are padding
    (qi, gi), = HungarianMatcher()({"pred_logits": logits[None], "pred_keypoints": kpts[None]}, [target], valid=valid)
    assert len(qi) == 3 and not {0, 1} & set(qi.tolist()) and 2 in qi.tolist()
    # fewer valid queries than people: only valid queries are returned
    valid = torch.tensor([[False, True, False, False, False, False]])
    (qi, gi), = HungarianMatcher()({"pred_logits": logits[None], "pred_keypoints": kpts[None]}, [target], valid=valid)
    assert qi.tolist() == [1] and gi.tolist() == [1]


def test_fp16_inputs_match_like_fp32():
    gen = torch.Generator().manual_seed(3)
    logits, kpts, target = random_clip(gen, 6, 4)
    out32 = {"pred_logits": logits[None], "pred_keypoints": kpts[None]}
    out16 = {k: v.half() for k, v in out32.items()}
    matcher = HungarianMatcher()
    (q32, g32), = matcher(out32, [target])
    (q16, g16), = matcher(out16, [target])
    assert torch.isfinite(matcher.cost_matrix(logits.half(), kpts.half(), target)).all()
    assert q32.tolist() == q16.tolist() and g32.tolist() == g16.tolist()
