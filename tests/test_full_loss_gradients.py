"""Model + matcher + SetCriterion together: every parameter learns from the real training loss, F = 1, 3, 5, and
the centre-anchored ablation, and with the optional neighbour-frame term."""
from __future__ import annotations

import pytest
import torch

from pavenet_lite.config import get_config
from pavenet_lite.data.clips import PoseTrackClips, collate_clips
from pavenet_lite.losses import SetCriterion
from pavenet_lite.matcher import HungarianMatcher
from pavenet_lite.model import build_model
from tests.conftest import FAST_MODEL


@pytest.mark.parametrize("frames, anchor, neighbour", [(1, "per_frame", 0.0), (3, "per_frame", 0.0),
                                                      (5, "per_frame", 0.0), (3, "centre", 0.0), (3, "per_frame", 1.0)])
def test_every_parameter_gets_a_gradient_from_the_full_loss(synth_small, frames, anchor, neighbour):
    torch.manual_seed(0)
    cfg = get_config("tiny", num_frames=frames, pose_anchor=anchor, loss_neighbour=neighbour, **FAST_MODEL)
    model = build_model(cfg)
    criterion = SetCriterion(cfg, HungarianMatcher.from_config(cfg))
    ds = PoseTrackClips(synth_small, "train", num_frames=frames, max_size=cfg.max_size, train=True, seed=0,
                        with_frame_targets=neighbour > 0)
    clips, masks, targets = collate_clips([ds[0], ds[len(ds) - 1]])
    assert sum(len(t["keypoints"]) for t in targets) > 0
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    for _ in range(2):  # the level embedding is gated by zero-initialised encoder layers at step 0
        opt.zero_grad()
        outputs = model(clips, masks, select=criterion.selector(targets))
        losses = criterion(outputs, targets, model.flows)
        assert torch.isfinite(losses["loss"])
        losses["loss"].backward()
        dead = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)]
        opt.step()
    assert dead == []
    expected = {"loss_cls_enc", "loss_rle_enc", *(f"loss_{k}_{d}" for k in ("cls", "rle") for d in range(cfg.pose_layers)),
                *(f"loss_rle_refine_{j}" for j in range(cfg.joint_layers)), "loss"}
    if cfg.loss_l1 > 0:
        expected |= {"loss_l1_enc", *(f"loss_l1_{d}" for d in range(cfg.pose_layers)),
                     *(f"loss_l1_refine_{j}" for j in range(cfg.joint_layers))}
    if cfg.loss_hm > 0:
        expected.add("loss_hm_enc")
    if neighbour > 0:
        expected.add("loss_neighbour_frames")
        assert losses["loss_neighbour_frames"] > 0
    assert set(losses) == expected
