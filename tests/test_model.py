"""The assembled PAVE-Net: shapes for every F and preset, padding, selection, gradients, determinism, AMP."""
from __future__ import annotations

import pytest
import torch

from pavenet_lite.config import get_config
from pavenet_lite.model import build_model


def make_batch(Fr: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two clips of different aspect ratios in one 64 x 64 padded batch: 64 x 48 (w x h) and 40 x 64."""
    g = torch.Generator().manual_seed(seed)
    clips = torch.randn(2, Fr, 3, 64, 64, generator=g)
    masks = torch.zeros(2, 64, 64, dtype=torch.bool)
    masks[0, 48:, :] = True
    masks[1, :, 40:] = True
    clips[masks[:, None, None].expand_as(clips)] = 0.0
    return clips, masks


def tiny(**kw):
    return get_config("tiny", **{"dropout": 0.0, **kw})


@pytest.mark.parametrize("Fr", [1, 3, 5])
def test_output_shapes_and_ranges(Fr):
    torch.manual_seed(0)
    cfg = tiny(num_frames=Fr)
    model = build_model(cfg).eval()
    clips, masks = make_batch(Fr)
    with torch.no_grad():
        out = model(clips, masks, return_attention=True)
    B, Q, K, M, L = 2, cfg.num_queries, cfg.num_keypoints, cfg.num_heads, cfg.num_levels
    shapes = [(8, 8), (4, 4), (2, 2)]                           # strides 8, 16, 32 of 64 x 64
    N = sum(h * w for h, w in shapes)
    assert out["pred_logits"].shape == (B, Q)
    assert out["pred_keypoints"].shape == out["pred_sigmas"].shape == (B, Q, K, 2)
    assert out["frame_keypoints"].shape == (B, Fr, Q, K, 2)
    assert torch.equal(out["frame_keypoints"][:, Fr // 2], out["pred_keypoints"])
    assert len(out["aux_outputs"]) == cfg.pose_layers - 1
    for d in out["aux_outputs"]:
        assert d["pred_logits"].shape == (B, Q) and d["pred_keypoints"].shape == (B, Q, K, 2)
    enc = out["enc_outputs"]
    assert enc["pred_logits"].shape == enc["valid"].shape == (B, N)
    assert enc["pred_keypoints"].shape == enc["pred_sigmas"].shape == (B, N, K, 2)
    # valid tokens per clip (nearest mask downsampling reads pixel s * i): 64 x 48 image -> (w, h) cells (8, 6),
    # (4, 3), (2, 2); 40 x 64 -> (5, 8), (3, 4) and (2, 2) since pixel 32 of the stride-32 level is still image
    assert enc["valid"].sum(1).tolist() == [8 * 6 + 4 * 3 + 2 * 2, 5 * 8 + 3 * 4 + 2 * 2]
    for t in (out["pred_keypoints"], enc["pred_keypoints"]):
        assert ((t >= 0) & (t <= 1)).all()
    assert ((out["pred_sigmas"] > 0) & (out["pred_sigmas"] < 1)).all()
    R = B * cfg.num_refine
    assert len(out["refine_outputs"]) == cfg.joint_layers
    assert out["refine_outputs"][-1]["pred_keypoints"].shape == (R, K, 2)
    assert out["refine_batch_index"].tolist() == [0] * cfg.num_refine + [1] * cfg.num_refine
    top = out["pred_logits"].topk(cfg.num_refine, dim=1).indices
    assert torch.equal(out["refine_query_index"], top.flatten())

    att = out["attention"]
    P, Pj = cfg.enc_points, cfg.joint_points
    assert att["level_shapes"] == shapes and att["level_start"] == [0, 64, 80]
    assert att["image_sizes"].tolist() == [[64, 48], [40, 64]]
    assert [a["locations"].shape for a in att["encoder"]] == [(B, Fr, N, M, L, P, 2)] * cfg.enc_layers
    assert [a["weights"].shape for a in att["pose_decoder"]] == [(B, Q, M, Fr, L, K)] * cfg.pose_layers
    assert [a["locations"].shape for a in att["joint_decoder"]] == [(R, K, M, Fr, L, Pj, 2)] * cfg.joint_layers
    for a in att["pose_decoder"] + att["joint_decoder"]:
        torch.testing.assert_close(a["weights"].flatten(3).sum(-1), torch.ones(a["weights"].shape[:3]))

    # queries start from the top-Q valid proposals; with zero-initialised offsets the first pose layer samples
    # exactly at those proposals' keypoints, tiled over frames and levels: check the pixel conversion by hand
    ranking = enc["pred_logits"].masked_fill(~enc["valid"], float("-inf"))
    chosen = ranking.topk(Q, dim=1).indices
    assert torch.gather(enc["valid"], 1, chosen).all()
    sizes = torch.tensor([[64.0, 48.0], [40.0, 64.0]])
    first = att["pose_decoder"][0]["locations"]
    for b in range(B):
        want = enc["pred_keypoints"][b, chosen[b]] * sizes[b] - 0.5                # [Q, K, 2] pixel centres
        for f in range(Fr):
            for lvl in range(L):
                torch.testing.assert_close(first[b, :, 1, f, lvl], want, rtol=0, atol=1e-3)


@pytest.mark.parametrize("name", ["small", "paper"])  # tiny: test_output_shapes_and_ranges
def test_presets_run_one_forward(name):
    torch.manual_seed(0)
    cfg = get_config(name)
    model = build_model(cfg).eval()
    clips = torch.randn(1, cfg.num_frames, 3, 128, 128)
    with torch.no_grad():
        out = model(clips, torch.zeros(1, 128, 128, dtype=torch.bool))
    assert out["pred_keypoints"].shape == (1, cfg.num_queries, cfg.num_keypoints, 2)
    assert out["refine_outputs"][-1]["pred_keypoints"].shape == (cfg.num_refine, cfg.num_keypoints, 2)
    assert torch.isfinite(out["pred_logits"]).all()


def stand_in_loss(model, out) -> torch.Tensor:
    """A scalar touching every output: scores, keypoints and sigmas of all layers and frames, proposals, joint
    decoder, and the three flows (through log_prob of keypoint residuals)."""
    def term(d):
        return d["pred_logits"].sum() * 0.1 + d["pred_keypoints"].pow(2).sum() + d["pred_sigmas"].pow(2).sum()
    enc = out["enc_outputs"]
    v = enc["valid"]
    loss = term(out) + sum(term(d) for d in out["aux_outputs"])
    loss = loss + term({k: enc[k][v] for k in ("pred_logits", "pred_keypoints", "pred_sigmas")})
    loss = loss + out["frame_keypoints"].pow(2).sum()
    for r in out["refine_outputs"]:
        loss = loss + r["pred_keypoints"].pow(2).sum() + r["pred_sigmas"].pow(2).sum()
        loss = loss - model.flows["refine"].log_prob(r["pred_keypoints"] - 0.5).sum()
    loss = loss - model.flows["enc"].log_prob(enc["pred_keypoints"][v] - 0.5).sum()
    if "heatmap" in out:
        loss = loss + out["heatmap"]["logits"].pow(2).sum()
    return loss - model.flows["dec"].log_prob(out["pred_keypoints"] - 0.5).sum()


def test_every_parameter_learns(Fr: int = 3):
    """Every trainable parameter gets a non-zero gradient by the second step. (At step 0 the level embedding is
    gated by the zero-initialised offset/weight layers of the encoder, as in Deformable DETR.)"""
    torch.manual_seed(0)
    model = build_model(tiny(num_frames=Fr))
    clips, masks = make_batch(Fr)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    for _ in range(2):
        opt.zero_grad()
        stand_in_loss(model, model(clips, masks)).backward()
        dead = [n for n, p in model.named_parameters()
                if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)]
        opt.step()
    assert dead == []
    # frames other than the centre have refinement branches in every pose layer but the last
    names = {n for n, _ in model.named_parameters()}
    last = model.cfg.pose_layers - 1
    for f in range(Fr):
        assert any(n.startswith(f"pose_decoder.refine.0.{f}.") for n in names)
        assert any(n.startswith(f"pose_decoder.refine.{last}.{f}.") for n in names) == (f == Fr // 2)


def test_deterministic_for_a_fixed_seed():
    clips, masks = make_batch(3)
    outs = []
    for _ in range(2):
        torch.manual_seed(123)
        model = build_model(tiny()).eval()
        with torch.no_grad():
            outs.append(model(clips, masks))
    for key in ("pred_logits", "pred_keypoints", "pred_sigmas"):
        assert torch.equal(outs[0][key], outs[1][key])
    assert torch.equal(outs[0]["refine_outputs"][-1]["pred_keypoints"], outs[1]["refine_outputs"][-1]["pred_keypoints"])


def test_select_callable_and_empty_selection():
    torch.manual_seed(0)
    model = build_model(tiny()).eval()
    clips, masks = make_batch(3)
    with torch.no_grad():
        out = model(clips, masks, select=lambda po: [torch.tensor([3, 1]), torch.tensor([], dtype=torch.long)])
        assert out["refine_batch_index"].tolist() == [0, 0]
        assert out["refine_query_index"].tolist() == [3, 1]
        assert out["refine_outputs"][0]["pred_keypoints"].shape == (2, 15, 2)
        none = model(clips, masks, select=lambda po: [torch.tensor([], dtype=torch.long)] * 2)
    assert none["refine_outputs"][0]["pred_keypoints"].shape == (0, 15, 2)
    with pytest.raises(ValueError, match="frames"):
        model(clips[:, :1], masks)


def test_param_groups_and_no_output_on_stdout(capsys):
    torch.manual_seed(0)
    model = build_model(tiny())
    fast, slow = model.param_groups()
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(any(k in names[id(p)] for k in ("backbone", "sampling_offsets")) for p in slow["params"])
    assert len(fast["params"]) + len(slow["params"]) == sum(p.requires_grad for p in model.parameters())
    assert slow["lr"] == pytest.approx(model.cfg.lr * 0.1)
    clips, masks = make_batch(3)
    with torch.no_grad():
        model.eval()(clips, masks, return_attention=True)
    assert capsys.readouterr().out == ""


def test_runs_under_bf16_autocast():
    torch.manual_seed(0)
    model = build_model(tiny()).eval()
    clips, masks = make_batch(3)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(clips, masks)
    assert torch.isfinite(out["pred_keypoints"]).all() and torch.isfinite(out["pred_logits"].float()).all()
    assert torch.isfinite(out["refine_outputs"][-1]["pred_keypoints"]).all()
