"""The pose decoder's per-frame anchors against the centre-anchored ablation."""
from __future__ import annotations

import pytest
import torch

from pavenet_lite.config import ConfigError, get_config
from pavenet_lite.model import build_model


@pytest.mark.parametrize("anchor", ["per_frame", "centre"])
def test_pose_anchor_decides_where_each_frame_samples(anchor):
    # Offsets start at zero, so a layer samples exactly at its anchors: after the first layer the per-frame
    # refiners move the frames apart, the centre-anchored ablation keeps every frame on the centre estimate.
    torch.manual_seed(0)
    cfg = get_config("tiny", num_frames=3, pose_anchor=anchor, max_size=96, num_queries=6, num_refine=2)
    model = build_model(cfg).eval()
    clips = torch.rand(1, 3, 3, 64, 96)
    out = model(clips, torch.zeros(1, 64, 96, dtype=torch.bool), return_attention=True)
    layer1 = out["attention"]["pose_decoder"][1]["locations"]                      # [B, Q, M, F, L, K, 2]
    spread = (layer1 - layer1[:, :, :, 1:2]).abs().amax().item()
    if anchor == "centre":
        assert spread == 0.0
        assert torch.equal(out["frame_keypoints"][:, 0], out["frame_keypoints"][:, 1])
        assert [sorted(r.keys()) for r in model.pose_decoder.refine] == [["1"], ["1"]]
    else:
        assert spread > 1e-6


def test_unknown_pose_anchor_is_rejected():
    with pytest.raises(ConfigError, match="pose_anchor: expected 'per_frame' or 'centre'"):
        get_config("tiny", pose_anchor="middle")
