"""One-to-many matching of the encoder proposals and quality-aware score targets, against brute force and loops."""
from __future__ import annotations

import itertools
import math

import pytest
import torch

from pavenet_lite.config import get_config
from pavenet_lite.data.clips import PoseTrackClips, collate_clips
from pavenet_lite.joints import K
from pavenet_lite.losses import SetCriterion, quality_targets, varifocal_loss
from pavenet_lite.matcher import HungarianMatcher
from pavenet_lite.model import build_model
from tests.conftest import FAST_MODEL


def _random_clip(gen, num_q, num_g):
    outputs = {"pred_logits": torch.randn(1, num_q, generator=gen),
               "pred_keypoints": torch.rand(1, num_q, K, 2, generator=gen)}
    target = {"keypoints": torch.rand(num_g, K, 2, generator=gen),
              "annotated": torch.rand(num_g, K, generator=gen) > 0.2,
              "areas": 0.05 + 0.1 * torch.rand(num_g, generator=gen)}
    return outputs, target


@pytest.mark.parametrize("seed", range(4))
def test_one_to_many_matching_is_the_cheapest_assignment_of_person_copies(seed):
    gen = torch.Generator().manual_seed(seed)
    num_q, num_g, r = 6, 2, 2
    outputs, target = _random_clip(gen, num_q, num_g)
    matcher = HungarianMatcher()
    cost = matcher.cost_matrix(outputs["pred_logits"][0], outputs["pred_keypoints"][0], target)  # [Q, G]
    (queries, people), = matcher(outputs, [target], repeats=r)
    assert len(queries) == r * num_g == len(set(queries.tolist()))
    assert sorted(people.tolist()) == [0, 0, 1, 1] and queries.tolist() == sorted(queries.tolist())
    slots = [g for g in range(num_g) for _ in range(r)]
    brute = min(sum(float(cost[q, g]) for q, g in zip(perm, slots))
                for perm in itertools.permutations(range(num_q), len(slots)))
    got = sum(float(cost[q, g]) for q, g in zip(queries.tolist(), people.tolist()))
    assert got == pytest.approx(brute, rel=1e-9, abs=1e-9)


def test_one_to_many_with_fewer_queries_than_copies_uses_every_query_once():
    gen = torch.Generator().manual_seed(9)
    outputs, target = _random_clip(gen, 3, 2)
    (queries, people), = HungarianMatcher()(outputs, [target], repeats=3)
    assert sorted(queries.tolist()) == [0, 1, 2] and set(people.tolist()) <= {0, 1}


def test_quality_targets_by_hand():
    quality = torch.tensor([0.2, 0.4, 0.0, 0.0, 0.9])
    clips = torch.tensor([0, 0, 1, 1, 2])
    got = quality_targets(quality, clips, 4, exponent=2.0)
    # clip 0: 0.04 / 0.16 and 1; clip 1 has no quality at all: both targets 1 (the start of training); clip 2: 1
    torch.testing.assert_close(got, torch.tensor([0.25, 1.0, 1.0, 1.0, 1.0]))


def test_varifocal_matches_a_loop():
    gen = torch.Generator().manual_seed(2)
    logits = 2 * torch.randn(30, generator=gen)
    targets = torch.where(torch.rand(30, generator=gen) > 0.7, torch.rand(30, generator=gen), torch.zeros(30))
    want = 0.0
    for x, t in zip(logits.tolist(), targets.tolist()):
        p = 1 / (1 + math.exp(-x))
        bce = -(t * math.log(p) + (1 - t) * math.log(1 - p))
        want += (t if t > 0 else 0.75 * p ** 2) * bce
    assert varifocal_loss(logits, targets, 0.25, 2.0).item() == pytest.approx(want, rel=1e-5)


def test_criterion_with_both_options(synth_small):
    torch.manual_seed(0)
    cfg = get_config("tiny", num_frames=3, enc_repeats=3, cls_quality=1.0, **FAST_MODEL)
    model = build_model(cfg)
    criterion = SetCriterion(cfg, HungarianMatcher.from_config(cfg))
    ds = PoseTrackClips(synth_small, "train", num_frames=3, max_size=cfg.max_size, train=True, seed=0)
    clips, masks, targets = collate_clips([ds[0], ds[len(ds) - 1]])
    outputs = model(clips, masks, select=criterion.selector(targets))
    enc_matches = criterion.matcher(outputs["enc_outputs"], targets, valid=outputs["enc_outputs"]["valid"], repeats=3)
    assert [len(q) for q, _ in enc_matches] == [3 * len(t["keypoints"]) for t in targets]
    terms = criterion(outputs, targets, model.flows)
    binary = SetCriterion(get_config("tiny", num_frames=3, **FAST_MODEL), HungarianMatcher.from_config(cfg))
    plain = binary(outputs, targets, model.flows)
    assert torch.isfinite(terms["loss"]) and terms["loss_cls_0"] != plain["loss_cls_0"]
    # Keypoint terms of the decoder layers do not depend on the score targets.
    assert terms["loss_rle_0"] == plain["loss_rle_0"]
    terms["loss"].backward()
