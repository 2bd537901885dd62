"""Config, backbone, position encoding and postprocess against hand computations and known numbers."""
from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from pavenet_lite.config import ConfigError, PAVENetConfig, get_config
from pavenet_lite.model import build_model
from pavenet_lite.model.backbone import BackboneWeightsError, FrozenBatchNorm2d, ResNet, load_backbone_weights
from pavenet_lite.model.position_encoding import PositionEncoding, level_masks, valid_ratios
from pavenet_lite.model.postprocess import keypoint_confidence, oks_nms_indices, postprocess
from pavenet_lite.model.spatial_encoder import token_centres




# ---------------------------------------------------------------- config
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


@pytest.mark.parametrize("bad,field", [({"num_frames": 4}, "num_frames"), ({"num_frames": 0}, "num_frames"),
                                       ({"backbone_depth": 101}, "backbone_depth"),
                                       ({"num_refine": 500}, "num_refine")])
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


# ---------------------------------------------------------------- backbone
def test_resnet_parameter_counts_match_torchvision():
    # torchvision resnet18 / resnet50 have 11 689 512 / 25 557 032 parameters including the fc classifier
    for depth, total, fc_in in ((18, 11_689_512, 512), (50, 25_557_032, 2048)):
        model = ResNet(depth)
        assert sum(p.numel() for p in model.parameters()) == total - (fc_in * 1000 + 1000)


def test_resnet_names_strides_and_freezing():
    model = ResNet(50, frozen_bn=True, frozen_stages=1)
    keys = set(model.state_dict())
    for k in ("conv1.weight", "bn1.running_mean", "layer1.0.conv3.weight", "layer2.0.downsample.0.weight",
              "layer2.0.downsample.1.running_var", "layer4.2.bn3.bias"):
        assert k in keys
    c3, c4, c5 = model(torch.zeros(1, 3, 64, 96))
    assert (c3.shape, c4.shape, c5.shape) == ((1, 512, 8, 12), (1, 1024, 4, 6), (1, 2048, 2, 3))
    frozen = {n.split(".")[0] for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {"conv1", "layer1"}
    assert all(p.requires_grad for n, p in model.named_parameters() if n.startswith("layer2"))
    slim = ResNet(18, width=0.25)
    assert slim.out_channels == (32, 64, 128)


def test_frozen_batchnorm_equals_batchnorm_in_eval():
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(4).eval()
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2)
        bn.bias.normal_()
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2)
    frozen = FrozenBatchNorm2d(4)
    frozen.load_state_dict(bn.state_dict())                     # accepts num_batches_tracked
    x = torch.randn(2, 4, 3, 3)
    torch.testing.assert_close(frozen(x), bn(x))


def test_load_backbone_weights(tmp_path):
    torch.manual_seed(0)
    source = ResNet(18)                                         # trainable BN: torchvision-like state dict
    state = {k: v.clone() for k, v in source.state_dict().items()}
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    target = ResNet(18, frozen_bn=True)
    report = load_backbone_weights(target, path)
    assert report.missing == [] and report.unexpected == []
    assert torch.equal(target.layer3[1].bn2.running_var, source.layer3[1].bn2.running_var)
    assert torch.equal(target.layer2[0].downsample[0].weight, source.layer2[0].downsample[0].weight)
    with pytest.raises(BackboneWeightsError, match="resnet18.pth.*conv1.weight"):
        load_backbone_weights(ResNet(18, width=0.5), path)
    with pytest.raises(BackboneWeightsError, match="missing.pth.*not found"):
        load_backbone_weights(target, tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(BackboneWeightsError, match="junk.pth"):
        load_backbone_weights(target, tmp_path / "junk.pth")


# ---------------------------------------------------------------- positions
def test_masks_ratios_and_token_centres():
    masks = torch.zeros(1, 8, 8, dtype=torch.bool)
    masks[0, :, 6:] = True                                      # image 6 wide, 8 high
    lv = level_masks(masks, [(4, 4), (2, 2)])
    assert lv[0][0].sum().item() == 4 and lv[1][0].sum().item() == 0   # columns 6 -> cell 3 of 4 is padding
    ratios = valid_ratios(lv)
    torch.testing.assert_close(ratios, torch.tensor([[[0.75, 1.0], [1.0, 1.0]]]))
    centres = token_centres([(4, 4), (2, 2)], ratios)
    # cell (row 1, col 2) of level 0: x = 2.5 / 3 valid columns, y = 1.5 / 4 rows
    torch.testing.assert_close(centres[0, 1 * 4 + 2], torch.tensor([2.5 / 3, 1.5 / 4]))
    torch.testing.assert_close(centres[0, 16 + 3], torch.tensor([1.5 / 2, 1.5 / 2]))


def test_sine_position_encoding_by_hand():
    pe = PositionEncoding(hidden_dim=8, num_levels=2)
    with torch.no_grad():
        pe.level_embed.zero_()
        pe.level_embed[1] = 1.0
    mask = torch.zeros(1, 2, 3, dtype=torch.bool)
    mask[0, :, 2] = True                                        # 2 valid columns
    pos = pe(mask, 0)                                           # [1, 8, 2, 3]: channels 0-3 y, 4-7 x
    x = (2 - 0.5) / 2 * 2 * math.pi                             # column 1: cumsum 2, normalised by 2 valid columns
    y = (1 - 0.5) / 2 * 2 * math.pi                             # row 0: cumsum 1 of 2 rows
    t = 10000 ** (2 / 4)                                        # dim_t for channel pair 1 (num_feats = 4)
    torch.testing.assert_close(pos[0, 4:, 0, 1], torch.tensor([math.sin(x), math.cos(x), math.sin(x / t),
                                                               math.cos(x / t)]))
    torch.testing.assert_close(pos[0, 0, 0, 1], torch.tensor(math.sin(y)))
    torch.testing.assert_close(pe(mask, 1) - pos, torch.ones_like(pos))


# ---------------------------------------------------------------- postprocess
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


def test_torchvision_weights_load_and_features_match():
    """Runs only where torchvision is installed (not a project dependency): identical weights -> identical C3..C5."""
    tv = pytest.importorskip("torchvision")
    for depth in (18, 50):
        torch.manual_seed(0)
        reference = getattr(tv.models, f"resnet{depth}")(weights=None).eval()
        state = reference.state_dict()
        for k, v in state.items():                              # non-trivial BN statistics
            if k.endswith("running_var"):
                v.uniform_(0.5, 2.0)
        ours = ResNet(depth, frozen_bn=True)
        ours.load_state_dict({k: v for k, v in state.items() if not k.startswith("fc.")})
        x = torch.randn(1, 3, 64, 64)
        with torch.no_grad():
            y = reference.maxpool(reference.relu(reference.bn1(reference.conv1(x))))
            c2 = reference.layer1(y)
            c3 = reference.layer2(c2)
            c4 = reference.layer3(c3)
            c5 = reference.layer4(c4)
            for got, want in zip(ours(x), (c3, c4, c5)):
                torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


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
