"""Query groups (Group DETR): groups do not see each other, inference uses the first group only, every group is
matched one-to-one and learns."""
from __future__ import annotations

import torch

from pavenet_lite.config import get_config
from pavenet_lite.data.clips import PoseTrackClips, collate_clips
from pavenet_lite.losses import SetCriterion
from pavenet_lite.matcher import HungarianMatcher
from pavenet_lite.model import build_model
from tests.conftest import FAST_MODEL

G = 3


def _models(frames=3):
    torch.manual_seed(0)
    grouped = build_model(get_config("tiny", num_frames=frames, num_groups=G, **FAST_MODEL))
    single = build_model(get_config("tiny", num_frames=frames, **FAST_MODEL))
    Q = single.cfg.num_queries
    state = {k: v for k, v in grouped.state_dict().items() if k != "query_embed.weight"}
    single.load_state_dict({**state, "query_embed.weight": grouped.query_embed.weight[:Q]})
    return grouped, single, Q


def _batch(data, frames=3):
    ds = PoseTrackClips(data, "train", num_frames=frames, max_size=FAST_MODEL["max_size"], train=True, seed=0)
    return collate_clips([ds[0], ds[len(ds) - 1]])


def test_inference_uses_the_first_group_only(synth_small):
    grouped, single, _ = _models()
    clips, masks, _ = _batch(synth_small)
    with torch.no_grad():
        a, b = grouped.eval()(clips, masks), single.eval()(clips, masks)
    for key in ("pred_logits", "pred_keypoints", "pred_sigmas"):
        assert torch.equal(a[key], b[key])
    assert a["pred_logits"].shape == (2, single.cfg.num_queries)


def test_each_group_decodes_as_if_alone(synth_small):
    grouped, single, Q = _models()
    clips, masks, _ = _batch(synth_small)
    with torch.no_grad():
        out = grouped.train()(clips, masks)
        assert out["pred_logits"].shape == (2 * G, Q) and out["enc_outputs"]["pred_logits"].shape[0] == 2
        for g in range(G):
            single.query_embed.weight.copy_(grouped.query_embed.weight[g * Q:(g + 1) * Q])
            alone = single.train()(clips, masks)
            for b in range(2):
                torch.testing.assert_close(out["pred_logits"][b * G + g], alone["pred_logits"][b], rtol=1e-5, atol=1e-5)
                torch.testing.assert_close(out["pred_keypoints"][b * G + g], alone["pred_keypoints"][b],
                                           rtol=1e-5, atol=1e-6)


def test_every_group_is_matched_and_learns(synth_small):
    grouped, _, Q = _models()
    cfg = grouped.cfg
    criterion = SetCriterion(cfg, HungarianMatcher.from_config(cfg))
    clips, masks, targets = _batch(synth_small)
    out = grouped.train()(clips, masks, select=criterion.selector(targets))
    people = [len(t["keypoints"]) for t in targets]
    refined = torch.bincount(out["refine_batch_index"], minlength=2 * G).tolist()
    assert refined == [n for n in people for _ in range(G)]  # each group of each clip refines all its people
    terms = criterion(out, targets, grouped.flows)
    terms["loss"].backward()
    grad = grouped.query_embed.weight.grad.view(G, Q, -1)
    assert all(grad[g].abs().sum() > 0 for g in range(G))
