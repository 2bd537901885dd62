"""Official PAVE-Net / PETR checkpoints -> `paper`: every name and shape of the real files, both directions, and the
layouts checked numerically against attention modules computed the official way (`tests/official_checkpoints.py`)."""
from __future__ import annotations

import pytest
import torch

from pavenet_lite.checkpoint import load_checkpoint
from pavenet_lite.cli import main
from pavenet_lite.config import PAVENetConfig
from pavenet_lite.joints import MODEL_TO_PT18
from pavenet_lite.model.pavenet import PAVENet
from pavenet_lite.model.position_encoding import level_masks, valid_ratios
from pavenet_lite.official_weights import ConversionError, convert, read_official, to_official
from pavenet_lite.predict import Predictor
from tests.official_checkpoints import official_attention, official_shapes, random_official

SMALL = dict(C=64, Q=20, ffn=96, enc=1, dec=2, ref=2, depth=18, kpt_hidden=128)  # 4K = 60 <= C: sigma branches fold exactly
T, H = "bbox_head.transformer.", "bbox_head."


def _sub(state: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def test_paper_size_pavenet_names_and_shapes_all_map():
    shapes = official_shapes("pavenet")
    theirs = {k: torch.empty(s, device="meta") for k, s in shapes.items()}
    conv = convert(theirs, "official-pavenet")
    cfg = conv.config
    assert (cfg.num_frames, cfg.num_keypoints, cfg.num_queries, cfg.hidden_dim, cfg.enc_layers, cfg.pose_layers,
            cfg.joint_layers, cfg.backbone_depth, cfg.pose_last_all_frames) == (3, 15, 300, 256, 6, 3, 2, 50, True)
    model_shapes = {k: v.shape for k, v in PAVENet(cfg).state_dict().items()}
    assert {k: v.shape for k, v in conv.state.items()} == model_shapes
    assert conv.initialised == [] and sorted(conv.zero_filled) == sorted(
        [f"neck.input_proj.{i}.0.bias" for i in range(3)] + ["neck.extra_proj.0.0.bias"])
    unmapped = {k for keys in conv.unmapped.values() for k in keys}
    expected = {k for k in shapes if k.endswith("num_batches_tracked") or k.endswith("flow.mask")
                or k.startswith(f"{H}fc_hm.") or k.startswith((f"{H}pre_refine_kpt_branches.1.",
                                                                f"{H}next_refine_kpt_branches.1."))}
    assert unmapped == expected
    assert conv.used + len(unmapped) == len(shapes)
    assert not any("UNKNOWN" in r for r in conv.unmapped)


def test_paper_size_petr_names_and_shapes_all_map():
    shapes = official_shapes("petr", K=17)
    theirs = {k: torch.empty(s, device="meta") for k, s in shapes.items()}
    conv = convert(theirs, "official-petr")
    assert (conv.config.num_frames, conv.config.num_keypoints, conv.config.pose_last_all_frames) == (3, 15, False)
    unmapped = {k for keys in conv.unmapped.values() for k in keys}
    assert unmapped == {k for k in shapes if k.endswith("num_batches_tracked") or k.startswith(f"{H}fc_hm.")
                        or k.startswith(f"{T}hm_encoder.")}
    assert all(k.startswith(("query_selection.sigma_head", "sigma_heads.", "joint_decoder.sigma.", "flows."))
               for k in conv.initialised) and conv.initialised


@pytest.fixture(scope="module")
def small_pavenet():
    theirs = random_official(official_shapes("pavenet", **SMALL))
    conv = convert(theirs, "official-pavenet")
    model = PAVENet(conv.config).eval()
    model.load_state_dict(conv.state)
    return theirs, conv, model


def test_both_ways_give_back_the_official_tensors(small_pavenet):
    theirs, conv, _ = small_pavenet
    back = to_official(conv.state, conv.config)
    mapped = set(theirs) - {k for keys in conv.unmapped.values() for k in keys}
    assert set(back) == mapped
    sigma = [k for k in mapped if "sigma_branches" in k]
    assert all(torch.equal(back[k], theirs[k]) for k in mapped - set(sigma))
    # A sigma branch comes back as another factorisation of the same affine map: compare the maps.
    h = torch.randn(5, SMALL["C"])
    for p in {k.rsplit(".", 3)[0] if ".linear." in k else k.rsplit(".", 2)[0] for k in sigma}:
        run = lambda s: _lin(s, f"{p}.2.linear", _lin(s, f"{p}.1", _lin(s, f"{p}.0", h)))  # noqa: E731
        torch.testing.assert_close(run(back), run(theirs), atol=1e-5, rtol=1e-4)
    # Ours -> official -> ours is the identity, the folded sigma heads included.
    again = convert({**back, **{k: theirs[k] for k in set(theirs) - mapped}}, "official-pavenet")
    assert all(torch.equal(again.state[k], conv.state[k]) for k in conv.state)


def _lin(s, name, x):
    return x @ s[f"{name}.weight"].t() + s[f"{name}.bias"]


def _inputs(B=1, Fr=3, C=64, pad=False, seed=0):
    """Multi-level memory of F frames `[B, F, N, C]`, mask `[B, N]`, shapes, ratios for a 96 x 128 image."""
    g = torch.Generator().manual_seed(seed)
    shapes = [(12, 16), (6, 8), (3, 4), (2, 2)]
    masks = torch.zeros(B, 96, 128, dtype=torch.bool)
    if pad:
        masks[:, :, 100:] = True
        masks[:, 80:] = True
    lm = level_masks(masks, shapes)
    N = sum(h * w for h, w in shapes)
    return (torch.randn(B, Fr, N, C, generator=g), torch.cat([m.flatten(1) for m in lm], 1), shapes,
            valid_ratios(lm), g)


def test_pose_aware_attention_matches_the_official_module(small_pavenet):
    theirs, _, model = small_pavenet
    memory, mask, shapes, ratios, g = _inputs()
    Q, K = 7, 15
    query = torch.randn(1, Q, SMALL["C"], generator=g)
    refs = torch.rand(1, 3, Q, K, 2, generator=g) * 0.6 + 0.2                      # a different pose per frame
    for d in range(SMALL["dec"]):
        ours, _ = model.pose_decoder.layers[d].cross_attn(query, refs, memory, mask, shapes, ratios)
        p = _sub(theirs, f"{T}decoder.layers.{d}.attentions.1.")
        ref = official_attention(p, query, memory, refs, mask, shapes, ratios, 8, K, ("pre_", "", "next_"),
                                 pose=True, mask_before=True)
        torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-4)
    # Swapping two frames' references changes the result: the per-frame order is really checked.
    swapped, _ = model.pose_decoder.layers[0].cross_attn(query, refs[:, [2, 1, 0]], memory, mask, shapes, ratios)
    assert not torch.allclose(swapped, ours, atol=1e-4)


def test_joint_and_encoder_attention_match_mmcv(small_pavenet):
    theirs, _, model = small_pavenet
    memory, mask, shapes, ratios, g = _inputs()
    Nq = 15
    query = torch.randn(1, Nq, SMALL["C"], generator=g)
    refs = torch.rand(1, Nq, 3, 2, generator=g) * 0.6 + 0.2
    ours, _ = model.joint_decoder.layers[1].cross_attn(query, refs, memory, mask, shapes, ratios)
    p = _sub(theirs, f"{T}refine_decoder.layers.1.attentions.1.")
    ref = official_attention(p, query, memory, refs.permute(0, 2, 1, 3)[:, :, :, None], mask, shapes, ratios, 8, 4,
                             ("pre_", "", "next_"), pose=False, mask_before=True)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-4)
    # The encoder's attention masks padding after value_proj, as mmcv: check with padding.
    memory, mask, shapes, ratios, g = _inputs(Fr=1, pad=True, seed=1)
    query = torch.randn(1, 9, SMALL["C"], generator=g)
    refs = torch.rand(1, 9, 1, 2, generator=g)
    ours, _ = model.encoder.layers[0].self_attn(query, refs, memory, mask, shapes, ratios)
    p = _sub(theirs, f"{T}encoder.layers.0.attentions.0.")
    ref = official_attention(p, query, memory, refs.permute(0, 2, 1, 3)[:, :, :, None], mask, shapes, ratios, 8, 4,
                             ("",), pose=False, mask_before=False)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-4)


def test_heads_match_the_official_branches(small_pavenet):
    theirs, _, model = small_pavenet
    h = torch.randn(4, 6, SMALL["C"])
    ref = torch.rand(4, 6, 15, 2) * 0.8 + 0.1

    def branch(name, n, x):  # nn.Sequential of Linear / ReLU, Linear at even indices
        for j in range(n):
            x = _lin(theirs, f"{H}{name}.{2 * j}", x)
            x = torch.relu(x) if j < n - 1 else x
        return x

    logit = torch.log(ref / (1 - ref))
    for d, f, prefix in [(0, 0, "pre_"), (1, 1, ""), (1, 2, "next_")]:  # last layer: official untrained refiners
        expect = torch.sigmoid(branch(f"{prefix}kpt_branches.{d}", 4, h) + logit.flatten(-2)).view_as(ref)
        torch.testing.assert_close(model.pose_decoder.refine[d][str(f)](h, ref), expect, atol=1e-5, rtol=1e-4)
    sigma = _lin(theirs, f"{H}dec_fc_sigma_branches.1.2.linear",
                 _lin(theirs, f"{H}dec_fc_sigma_branches.1.1", _lin(theirs, f"{H}dec_fc_sigma_branches.1.0", h)))
    torch.testing.assert_close(model.sigma_heads[1](h), torch.sigmoid(sigma).view(4, 6, 15, 2), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(model.cls_heads[0](h), _lin(theirs, f"{H}cls_branches.0", h))
    image = torch.randn(1, 128, 12, 16)
    neck = torch.nn.functional.group_norm(
        torch.nn.functional.conv2d(image, theirs["neck.convs.0.conv.weight"]), 32,
        theirs["neck.convs.0.gn.weight"], theirs["neck.convs.0.gn.bias"])
    torch.testing.assert_close(model.neck.input_proj[0](image), neck, atol=1e-5, rtol=1e-4)


def test_converted_model_runs_with_the_official_last_layer_refiners(small_pavenet):
    _, conv, model = small_pavenet
    clips, masks = torch.randn(1, 3, 3, 96, 128), torch.zeros(1, 96, 128, dtype=torch.bool)
    out = model(clips, masks)
    assert out["refine_outputs"][-1]["pred_keypoints"].shape == (conv.config.num_refine, 15, 2)
    # Without the official last-layer non-centre refiners the centre frame is the same, the other frames' keypoints
    # (where the joint decoder starts) are not.
    plain = PAVENet(PAVENetConfig.from_dict({**conv.config.to_dict(), "pose_last_all_frames": False})).eval()
    last = SMALL["dec"] - 1
    plain.load_state_dict({k: v for k, v in conv.state.items()
                           if not k.startswith((f"pose_decoder.refine.{last}.0.", f"pose_decoder.refine.{last}.2."))})
    other = plain(clips, masks)
    torch.testing.assert_close(other["pred_keypoints"], out["pred_keypoints"])
    assert not torch.allclose(other["frame_keypoints"][:, 0], out["frame_keypoints"][:, 0], atol=1e-4)


def test_petr_keeps_posetrack_slots_and_inflates(tmp_path):
    shapes = official_shapes("petr", K=17, **SMALL)
    theirs = random_official(shapes, seed=2)
    conv = convert(theirs, "official-petr")
    model = PAVENet(conv.config).eval()
    model.load_state_dict(conv.state)
    keep = torch.tensor(MODEL_TO_PT18)
    last = theirs[f"{H}kpt_branches.0.6.weight"].view(17, 2, -1)[keep].flatten(0, 1)
    assert torch.equal(model.pose_decoder.refine[0]["1"].mlp.layers[3].weight, last)
    assert torch.equal(model.joint_decoder.query_embed.weight, theirs[f"{T}refine_query_embedding.weight"][keep])
    # On a still clip the inflated pose attention equals PETR's single-frame one with the two dropped keypoints
    # switched off (their weights -> 0, their references inside the others' box so the pose extent is the same).
    p = dict(_sub(theirs, f"{T}decoder.layers.1.attentions.1."))
    dropped = [k for k in range(17) if k not in MODEL_TO_PT18]
    bias = p["attention_weights.bias"].view(8, 4, 17).clone()
    bias[:, :, dropped] = -1e4
    p["attention_weights.bias"] = bias.flatten()
    memory, mask, shapes, ratios, g = _inputs(Fr=1, seed=3)
    Q = 5
    query = torch.randn(1, Q, SMALL["C"], generator=g)
    refs17 = torch.rand(1, 1, Q, 17, 2, generator=g) * 0.6 + 0.2
    refs17[..., dropped, :] = 0.5
    refs17[..., 0, :], refs17[..., 5, :] = 0.15, 0.85                              # the box spans the dropped ones
    ref = official_attention(p, query, memory, refs17, mask, shapes, ratios, 8, 17, ("",), pose=True,
                             mask_before=False)
    still = memory.expand(-1, 3, -1, -1)
    ours, _ = model.pose_decoder.layers[1].cross_attn(query, refs17[:, :, :, keep].expand(-1, 3, -1, -1, -1), still,
                                                      mask, shapes, ratios)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-4)


def test_wrong_kind_and_foreign_files_fail_clearly(tmp_path):
    theirs = random_official(official_shapes("pavenet", **SMALL))
    with pytest.raises(ConversionError, match="F = 3 frames and K = 15 keypoints; official-petr expects F = 1"):
        convert(theirs, "official-petr")
    broken = {k: v for k, v in theirs.items() if not k.startswith(f"{H}next_kpt_branches.0.")}
    with pytest.raises(ConversionError, match=r"pose_decoder.refine.0.2.mlp.layers.0.weight: no official tensor"):
        convert(broken, "official-pavenet")
    torch.save({"model": {}, "config": {}}, tmp_path / "ours.pt")
    with pytest.raises(ConversionError, match="ours.pt: expected an mmcv checkpoint"):
        read_official(tmp_path / "ours.pt")
    with pytest.raises(ConversionError, match="nothing.pth: checkpoint file not found"):
        read_official(tmp_path / "nothing.pth")


def test_cli_convert_writes_a_checkpoint_the_predictor_loads(tmp_path, capsys):
    theirs = random_official(official_shapes("pavenet", **SMALL))
    torch.save({"meta": {"epoch": 20, "CLASSES": ("person",)}, "state_dict": {f"module.{k}": v
                                                                             for k, v in theirs.items()}},
               tmp_path / "pave.pth")
    main(["convert", "--from", "official-pavenet", str(tmp_path / "pave.pth"), "--out", str(tmp_path / "pave.pt")])
    printed = capsys.readouterr().out
    assert "bbox_head.fc_hm.weight" in printed and "OKS-NMS" in printed
    state = load_checkpoint(tmp_path / "pave.pt")
    assert state["card"]["converted_from"] == "official-pavenet" and len(state["card"]["source"]["sha256"]) == 64
    predictor = Predictor.from_checkpoint(tmp_path / "pave.pt")
    assert predictor.cfg.pose_last_all_frames
    with pytest.raises(SystemExit) as e:
        main(["convert", "--from", "mmdet", str(tmp_path / "pave.pth"), "--out", str(tmp_path / "x.pt")])
    assert e.value.code == 2
