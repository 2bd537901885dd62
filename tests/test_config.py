"""PAVENetConfig: presets, JSON round trip, and clear errors for bad values and names."""
from __future__ import annotations

import json

import pytest

from pavenet_lite.config import ConfigError, PAVENetConfig, get_config


def test_presets_and_round_trip():
    for name in ("tiny", "small", "paper"):
        cfg = get_config(name)
        assert cfg.name == name and cfg.num_frames % 2 == 1
        d = json.loads(json.dumps(cfg.to_dict()))               # checkpoints store plain JSON types
        assert PAVENetConfig.from_dict(d) == cfg
    paper = get_config("paper")
    assert (paper.backbone_depth, paper.hidden_dim, paper.enc_layers, paper.pose_layers, paper.joint_layers,
            paper.num_queries, paper.num_levels, paper.num_heads, paper.enc_points, paper.joint_points,
            paper.max_size, paper.lr) == (50, 256, 6, 3, 2, 300, 4, 8, 4, 4, 1333, 2e-5)
    assert (paper.loss_cls, paper.loss_rle, paper.cost_cls, paper.cost_kpt, paper.cost_oks) == (0.5, 1.0, 2, 70, 7)
    assert get_config("tiny", num_frames=5).num_frames == 5
    assert (paper.augment, get_config("tiny").augment, get_config("tiny", augment="full").augment) == \
        ("full", "light", "full")


@pytest.mark.parametrize("bad,field", [({"num_frames": 4}, "num_frames"), ({"num_frames": 0}, "num_frames"),
                                       ({"backbone_depth": 101}, "backbone_depth"),
                                       ({"num_refine": 500}, "num_refine"), ({"augment": "heavy"}, "augment")])
def test_config_rejects_bad_values(bad, field):
    with pytest.raises(ConfigError, match=field):
        get_config("paper", **bad)


def test_config_rejects_unknown_names():
    with pytest.raises(ConfigError, match="huge"):
        get_config("huge")
    with pytest.raises(ConfigError, match="hidden_dims"):
        get_config("tiny", hidden_dims=3)
    with pytest.raises(ConfigError, match="ckpt.pth.*not_a_field"):
        PAVENetConfig.from_dict({"not_a_field": 1}, source="ckpt.pth")
