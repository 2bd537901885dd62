"""Distinct query selection: greedy OKS-NMS over the best tokens, against a naive loop."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pavenet_lite.config import get_config
from pavenet_lite.joints import MODEL_TO_PT18, PT18_OKS_SIGMAS
from pavenet_lite.model import build_model
from pavenet_lite.model.query_selection import distinct_top
from tests.conftest import FAST_MODEL

SIGMAS = np.asarray(PT18_OKS_SIGMAS)[list(MODEL_TO_PT18)]


def naive_oks(a, b):
    area = lambda p: max((max(p[:, 0]) - min(p[:, 0])) * (max(p[:, 1]) - min(p[:, 1])), 1e-6)
    s = (area(a) + area(b)) / 2
    return sum(math.exp(-((a[k, 0] - b[k, 0]) ** 2 + (a[k, 1] - b[k, 1]) ** 2) / (2 * s * (2 * SIGMAS[k]) ** 2))
               for k in range(len(a))) / len(a)


def naive_distinct(scores, keypoints, num, threshold):
    order = sorted(range(len(scores)), key=lambda i: -scores[i])[:3 * num]
    kept = []
    for i in order:
        if all(naive_oks(keypoints[i], keypoints[j]) <= threshold for j in kept):
            kept.append(i)
    return (kept + [i for i in order if i not in kept])[:num]


@pytest.mark.parametrize("threshold", [0.1, 0.3, 0.6])
def test_distinct_top_matches_a_loop(threshold):
    gen = torch.Generator().manual_seed(1)
    grid = torch.tensor([[x, y] for x in (0.2, 0.5, 0.8) for y in (0.25, 0.75)])    # 6 people apart,
    centres = grid[None, :, None].expand(2, -1, -1, -1)                                 # each proposed 7 times
    base = centres + 0.05 * torch.randn(2, 6, 15, 2, generator=gen)
    keypoints = base.repeat_interleave(7, 1) + 0.01 * torch.randn(2, 42, 15, 2, generator=gen)
    scores = torch.randn(2, 42, generator=gen)
    got = distinct_top(scores, keypoints, 10, threshold)
    for b in range(2):
        want = naive_distinct(scores[b].tolist(), keypoints[b].double().numpy(), 10, threshold)
        assert got[b].tolist() == want
    if threshold <= 0.3:  # duplicates of a person are suppressed: the first 6 queries are the 6 people
        assert all({i // 7 for i in got[b, :6].tolist()} == set(range(6)) for b in range(2))


def test_query_nms_off_is_the_plain_top_q(synth_small):
    torch.manual_seed(0)
    model = build_model(get_config("tiny", num_frames=1, query_nms=0.0, **FAST_MODEL)).eval()
    torch.manual_seed(0)
    distinct = build_model(get_config("tiny", num_frames=1, query_nms=0.3, **FAST_MODEL)).eval()
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), distinct.state_dict().values()))
    clips = torch.rand(1, 1, 3, 64, 96)
    masks = torch.zeros(1, 64, 96, dtype=torch.bool)
    with torch.no_grad():
        plain, other = model(clips, masks), distinct(clips, masks)
    assert torch.equal(plain["enc_outputs"]["pred_logits"], other["enc_outputs"]["pred_logits"])


def test_query_index_names_the_tokens_that_became_queries():
    for query_nms in (0.0, 0.3):
        torch.manual_seed(0)
        model = build_model(get_config("tiny", num_frames=1, query_nms=query_nms, **FAST_MODEL)).eval()
        with torch.no_grad():
            out = model(torch.rand(1, 1, 3, 64, 96), torch.zeros(1, 64, 96, dtype=torch.bool))
        enc = out["enc_outputs"]
        index = enc["query_index"][0]                                            # [Q]
        assert index.unique().numel() == model.cfg.num_queries
        scores = enc["pred_logits"][0, index]
        if query_nms == 0.0:  # the plain top-Q, best first
            assert torch.equal(index, enc["pred_logits"][0].topk(model.cfg.num_queries).indices)
        else:                 # the greedy distinct pick, not the plain top-Q
            assert torch.equal(index, distinct_top(enc["pred_logits"], enc["pred_keypoints"], model.cfg.num_queries,
                                                   query_nms)[0])
        assert torch.isfinite(scores).all()
