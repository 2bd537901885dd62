"""Loss functions and SetCriterion against direct formulas, closed forms and hand-built outputs."""
from __future__ import annotations

import math

import pytest
import torch
import torch.distributed as dist
from torch import nn

from pavenet_lite.config import PAVENetConfig
from pavenet_lite.joints import K
from pavenet_lite.keypoint_ops import keypoint_l1, oks
from pavenet_lite.losses import SetCriterion, l1_loss, reduce_normalisers, rle_loss, sigmoid_focal_loss
from pavenet_lite.matcher import HungarianMatcher
from pavenet_lite.model.flow import RealNVP


class StandardNormal(nn.Module):
    """Identity flow stand-in: log_prob = log density of the standard 2-D normal."""

    def log_prob(self, u):
        return -0.5 * (u.float() ** 2).sum(-1) - math.log(2 * math.pi)


def closed_form_rle(pred, sigma, gt, ann):
    """Per annotated joint: 2 * Gaussian NLL of u (flow term, counted for both coordinates) + per coordinate
    log sigma + Laplace-like term log(sigma sqrt(2 pi)) + |r| / (sqrt(2) sigma). Plain Python loops."""
    total = 0.0
    for m in range(pred.shape[0]):
        for k in range(pred.shape[1]):
            if not ann[m, k]:
                continue
            r = [float(pred[m, k, c] - gt[m, k, c]) for c in range(2)]
            s = [float(sigma[m, k, c]) for c in range(2)]
            gauss_nll = 0.5 * ((r[0] / s[0]) ** 2 + (r[1] / s[1]) ** 2) + math.log(2 * math.pi)
            total += 2 * gauss_nll
            for c in range(2):
                total += math.log(s[c]) + math.log(s[c] * math.sqrt(2 * math.pi)) + abs(r[c]) / (math.sqrt(2) * s[c])
    return total


def test_focal_matches_direct_formula():
    gen = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(40, generator=gen)
    labels = (torch.rand(40, generator=gen) > 0.7).float()
    expected = 0.0
    for x, t in zip(logits.tolist(), labels.tolist()):
        p = 1 / (1 + math.exp(-x))
        expected += -0.25 * (1 - p) ** 2 * math.log(p) if t else -0.75 * p ** 2 * math.log(1 - p)
    assert sigmoid_focal_loss(logits, labels, 0.25, 2.0).item() == pytest.approx(expected, rel=1e-5)


def test_l1_loss_sums_annotated_coordinates():
    gen = torch.Generator().manual_seed(1)
    pred, gt = torch.rand(3, K, 2, generator=gen), torch.rand(3, K, 2, generator=gen)
    ann = torch.rand(3, K, generator=gen) > 0.4
    ann[2] = False
    expected = sum(abs(float(pred[m, k, c] - gt[m, k, c])) for m in range(3) for k in range(K) if ann[m, k]
                   for c in range(2))
    assert l1_loss(pred, gt, ann).item() == pytest.approx(expected, rel=1e-5)


def test_rle_with_identity_flow_is_closed_form():
    gen = torch.Generator().manual_seed(2)
    pred, gt = torch.rand(4, K, 2, generator=gen), torch.rand(4, K, 2, generator=gen)
    sigma = 0.01 + 0.3 * torch.rand(4, K, 2, generator=gen)
    ann = torch.rand(4, K, generator=gen) > 0.3
    got = rle_loss(pred, sigma, gt, ann, StandardNormal()).item()
    assert got == pytest.approx(closed_form_rle(pred, sigma, gt, ann), rel=1e-5)


def test_moving_towards_gt_lowers_every_keypoint_loss():
    gen = torch.Generator().manual_seed(3)
    torch.manual_seed(3)
    flow = RealNVP()
    gt = torch.rand(2, K, 2, generator=gen)
    far = gt + 0.2 * torch.randn(2, K, 2, generator=gen)
    near = gt + 0.5 * (far - gt)
    ann, areas, sigma = torch.ones(2, K, dtype=torch.bool), torch.tensor([0.1, 0.1]), torch.full((2, K, 2), 0.1)
    assert rle_loss(near, sigma, gt, ann, flow) < rle_loss(far, sigma, gt, ann, flow)
    assert l1_loss(near, gt, ann) < l1_loss(far, gt, ann)
    assert (keypoint_l1(near, gt, ann) < keypoint_l1(far, gt, ann)).all()
    assert (oks(near, gt, ann, areas) > oks(far, gt, ann, areas)).all()


def test_tiny_sigmas_and_fp16_stay_finite():
    gen = torch.Generator().manual_seed(4)
    flow = RealNVP()
    pred = torch.rand(3, K, 2, generator=gen).requires_grad_()
    gt = torch.rand(3, K, 2, generator=gen)
    ann = torch.ones(3, K, dtype=torch.bool)
    sigma = torch.full((3, K, 2), 1e-6, requires_grad=True)
    loss = rle_loss(pred, sigma, gt, ann, flow)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all() and torch.isfinite(sigma.grad).all()
    half = rle_loss(pred.detach().half(), torch.full((3, K, 2), 1e-7).half(), gt.half(), ann, flow)  # sigma -> ~0
    assert torch.isfinite(half) and half.dtype == torch.float32
    assert torch.isfinite(oks(pred.detach().half(), gt.half(), ann, torch.zeros(3).half())).all()


# ---------- SetCriterion on hand-built outputs ----------

def make_batch(gen, num_q=5, num_n=8, aux=1, refine=2):
    """Two clips: clip 0 has 2 people, clip 1 none. Queries 3 and 1 of clip 0 (tokens 6 and 2 of the proposals)
    sit on people 0 and 1; everything else is far away, so the optimal matching is known."""
    gt = torch.rand(2, K, 2, generator=gen) * 0.4 + 0.3
    ann = torch.rand(2, K, generator=gen) > 0.2
    targets = [{"keypoints": gt, "annotated": ann, "areas": torch.tensor([0.1, 0.15])},
               {"keypoints": torch.zeros(0, K, 2), "annotated": torch.zeros(0, K, dtype=torch.bool),
                "areas": torch.zeros(0)}]

    def layer(n, on):  # on: {query: person}
        kpts = torch.rand(2, n, K, 2, generator=gen) * 0.05   # far corner
        for q, g in on.items():
            kpts[0, q] = gt[g] + 0.01 * torch.randn(K, 2, generator=gen)
        return {"pred_logits": torch.randn(2, n, generator=gen).requires_grad_(),
                "pred_keypoints": kpts.requires_grad_(),
                "pred_sigmas": (0.05 + 0.2 * torch.rand(2, n, K, 2, generator=gen)).requires_grad_()}

    outputs = layer(num_q, {3: 0, 1: 1})
    outputs["aux_outputs"] = [layer(num_q, {3: 0, 1: 1}) for _ in range(aux)]
    outputs["enc_outputs"] = layer(num_n, {6: 0, 2: 1})
    outputs["enc_outputs"]["valid"] = torch.arange(num_n) < torch.tensor([[num_n - 1], [num_n - 3]])
    # refined people: clip 0 queries 1, 3 (matched) and 4 (unmatched), clip 1 query 0 (no people)
    outputs["refine_batch_index"] = torch.tensor([0, 0, 0, 1])
    outputs["refine_query_index"] = torch.tensor([1, 3, 4, 0])
    outputs["refine_outputs"] = [{"pred_keypoints": torch.rand(4, K, 2, generator=gen).requires_grad_(),
                                  "pred_sigmas": (0.05 + 0.2 * torch.rand(4, K, 2, generator=gen)).requires_grad_()}
                                 for _ in range(refine)]
    return outputs, targets


def reference_terms(outputs, targets):
    """Expected terms from the known matching, with the standard-normal flow and plain-Python focal loss."""
    gt, ann = targets[0]["keypoints"], targets[0]["annotated"]
    num_coords = 2 * ann.sum().item()

    def focal(logits, positives, valid):
        total = 0.0
        for b in range(logits.shape[0]):
            for q in range(logits.shape[1]):
                if valid is not None and not valid[b, q]:
                    continue
                p = torch.sigmoid(logits[b, q]).item()
                total += (-0.25 * (1 - p) ** 2 * math.log(p) if (b, q) in positives
                          else -0.75 * p ** 2 * math.log(1 - p))
        return total / len(positives)

    def rle(out, rows):
        return closed_form_rle(out["pred_keypoints"][rows].detach(), out["pred_sigmas"][rows].detach(), gt, ann)

    enc = outputs["enc_outputs"]
    terms = {"loss_cls_enc": focal(enc["pred_logits"], {(0, 6), (0, 2)}, enc["valid"]),
             "loss_rle_enc": rle({k: v[0] for k, v in enc.items() if k != "valid"}, [6, 2]) / num_coords}
    for d, layer in enumerate([*outputs["aux_outputs"], outputs]):
        terms[f"loss_cls_{d}"] = focal(layer["pred_logits"], {(0, 3), (0, 1)}, None)
        terms[f"loss_rle_{d}"] = rle({k: layer[k][0] for k in ("pred_keypoints", "pred_sigmas")}, [3, 1]) / num_coords
    for j, ref in enumerate(outputs["refine_outputs"]):
        terms[f"loss_rle_refine_{j}"] = rle(ref, [1, 0]) / num_coords   # rows 1 (query 3 -> person 0), 0 (-> 1)
    return terms


def test_set_criterion_terms_match_reference():
    gen = torch.Generator().manual_seed(5)
    outputs, targets = make_batch(gen)
    weights = PAVENetConfig()
    criterion = SetCriterion(weights, HungarianMatcher())
    flows = {"enc": StandardNormal(), "dec": StandardNormal(), "refine": StandardNormal()}
    terms = criterion(outputs, targets, flows)
    expected = reference_terms(outputs, targets)
    assert set(terms) == set(expected) | {"loss"}
    for name, value in expected.items():
        assert terms[name].item() == pytest.approx(value, rel=1e-4), name
    total = sum((weights.loss_cls if "_cls_" in n else weights.loss_rle) * v for n, v in expected.items())
    assert terms["loss"].item() == pytest.approx(total, rel=1e-4)
    terms["loss"].backward()
    for tensor in (outputs["pred_logits"], outputs["pred_keypoints"], outputs["pred_sigmas"],
                   outputs["refine_outputs"][1]["pred_keypoints"], outputs["enc_outputs"]["pred_sigmas"]):
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all()
    assert outputs["enc_outputs"]["pred_logits"].grad[0, 7] == 0  # padding token: no loss


def test_optional_l1_and_oks_terms_and_selector():
    gen = torch.Generator().manual_seed(6)
    outputs, targets = make_batch(gen, aux=0, refine=1)
    criterion = SetCriterion(PAVENetConfig(loss_l1=5.0, loss_oks=2.0), HungarianMatcher())
    flows = nn.ModuleDict({"enc": RealNVP(), "dec": RealNVP(), "refine": RealNVP()})
    terms = criterion(outputs, targets, flows)
    gt, ann = targets[0]["keypoints"], targets[0]["annotated"]
    pred = outputs["pred_keypoints"][0, [3, 1]].detach()
    l1 = sum((pred[g, k] - gt[g, k]).abs().sum().item() for g in range(2) for k in range(K) if ann[g, k])
    assert terms["loss_l1_0"].item() == pytest.approx(l1 / (2 * ann.sum().item()), rel=1e-5)
    assert terms["loss_oks_0"].item() == pytest.approx(
        (1 - oks(pred, gt, ann, targets[0]["areas"])).mean().item(), rel=1e-5)
    assert {"loss_l1_enc", "loss_oks_enc", "loss_l1_refine_0", "loss_oks_refine_0"} <= set(terms)
    assert terms["loss"].item() == pytest.approx(
        sum(criterion.weight(n) * v.item() for n, v in terms.items() if n != "loss"), rel=1e-5)
    select = criterion.selector(targets)
    chosen = select({k: outputs[k] for k in ("pred_logits", "pred_keypoints", "pred_sigmas")})
    assert [c.tolist() for c in chosen] == [[1, 3], []]


def test_criterion_with_no_people_and_amp():
    gen = torch.Generator().manual_seed(7)
    outputs, targets = make_batch(gen)
    for t in targets:
        t.update(keypoints=torch.zeros(0, K, 2), annotated=torch.zeros(0, K, dtype=torch.bool), areas=torch.zeros(0))
    flows = {"enc": RealNVP(), "dec": RealNVP(), "refine": RealNVP()}
    criterion = SetCriterion(PAVENetConfig(loss_l1=1.0, loss_oks=1.0), HungarianMatcher())
    terms = criterion(outputs, targets, flows)
    assert all(torch.isfinite(v) for v in terms.values())
    assert terms["loss_rle_0"].item() == 0.0 and terms["loss_cls_0"].item() > 0  # all queries are negatives
    terms["loss"].backward()
    # bf16 outputs under CPU autocast: float32 loss close to the float32 computation
    outputs, targets = make_batch(torch.Generator().manual_seed(8))
    ref = criterion(outputs, targets, flows)["loss"]
    low = {k: (v.detach().bfloat16() if torch.is_tensor(v) and v.is_floating_point() else v) for k, v in outputs.items()}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = criterion(low, targets, flows)["loss"]
    assert got.dtype == torch.float32 and got.item() == pytest.approx(ref.item(), rel=0.05)


def test_distributed_normalisers_single_process(tmp_path):
    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        assert reduce_normalisers(0, 4.0, torch.tensor(7), device=torch.device("cpu")).tolist() == [1.0, 4.0, 7.0]
        outputs, targets = make_batch(torch.Generator().manual_seed(9))
        flows = {"enc": StandardNormal(), "dec": StandardNormal(), "refine": StandardNormal()}
        terms = SetCriterion(PAVENetConfig(), HungarianMatcher())(outputs, targets, flows)
        for name, value in reference_terms(outputs, targets).items():
            assert terms[name].item() == pytest.approx(value, rel=1e-4), name
    finally:
        dist.destroy_process_group()


def test_neighbour_frame_term_matches_a_loop_and_trains_only_other_frames():
    gen = torch.Generator().manual_seed(7)
    outputs, targets = make_batch(gen, aux=0, refine=0)
    num_q = outputs["pred_logits"].shape[1]
    frame_kpts = torch.rand(2, 3, num_q, K, 2, generator=gen)
    frame_kpts[:, 1] = outputs["pred_keypoints"].detach()          # the centre slot is pred_keypoints
    outputs["frame_keypoints"] = frame_kpts.requires_grad_()
    targets[0]["frame_keypoints"] = torch.rand(2, 3, K, 2, generator=gen)
    targets[0]["frame_annotated"] = torch.rand(2, 3, K, generator=gen) > 0.3
    targets[1]["frame_keypoints"], targets[1]["frame_annotated"] = torch.zeros(0, 3, K, 2), torch.zeros(0, 3, K).bool()
    flows = {"enc": StandardNormal(), "dec": StandardNormal(), "refine": StandardNormal()}
    assert "loss_neighbour_frames" not in SetCriterion(PAVENetConfig(), HungarianMatcher())(outputs, targets, flows)
    criterion = SetCriterion(PAVENetConfig(loss_neighbour=2.0), HungarianMatcher())
    with pytest.raises(ValueError, match="with_frame_targets=True"):
        criterion(outputs, [{k: v for k, v in t.items() if k != "frame_annotated"} for t in targets], flows)
    terms = criterion(outputs, targets, flows)
    total, coords = 0.0, 0
    for q, g in ((3, 0), (1, 1)):                                   # the known matching of make_batch
        for f in (0, 2):
            for k in range(K):
                if targets[0]["frame_annotated"][g, f, k]:
                    total += (frame_kpts[0, f, q, k] - targets[0]["frame_keypoints"][g, f, k]).abs().sum().item()
                    coords += 2
    assert terms["loss_neighbour_frames"].item() == pytest.approx(total / coords, rel=1e-5)
    assert criterion.weight("loss_neighbour_frames") == 2.0
    terms["loss_neighbour_frames"].backward()
    grad = outputs["frame_keypoints"].grad
    assert grad[:, 1].abs().sum() == 0 and grad[0, [0, 2]][:, [1, 3]].abs().sum() > 0
    assert grad[0, :, [0, 2, 4]].abs().sum() == 0 and grad[1].abs().sum() == 0   # unmatched queries, empty clip
