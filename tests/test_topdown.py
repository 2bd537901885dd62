"""Two-stage baseline: shapes, one crop per detection, detector / heatmap decoding, crops, determinism, training."""
from __future__ import annotations

import math

import pytest
import torch

from pavenet_lite.baselines import (TopDownConfig, TopDownPoseEstimator, box_crops, decode_detections, decode_heatmaps,
                                    keypoint_targets, topdown_loss, train_topdown)
from pavenet_lite.data.clips import PoseTrackClips, collate_clips
from pavenet_lite.joints import K


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _model(num_frames: int = 3) -> TopDownPoseEstimator:
    torch.manual_seed(0)
    return TopDownPoseEstimator(TopDownConfig(num_frames=num_frames)).eval()


def _clips(B: int = 2, F: int = 3, H: int = 64, W: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(B, F, 3, H, W, generator=g), torch.zeros(B, H, W, dtype=torch.bool)


@pytest.mark.parametrize("num_frames", [1, 3, 5])
def test_output_shapes(num_frames):
    clips, masks = _clips(F=num_frames)
    masks[1, :, 80:] = True  # clip 1 is 80 px wide: its coordinates are normalised by 80
    out = _model(num_frames)(clips, masks, top_n=4)
    assert len(out) == 2
    for o in out:
        assert o["boxes"].shape == (4, 4) and o["scores"].shape == (4,)
        assert o["keypoints"].shape == (4, K, 2) and o["keypoint_scores"].shape == (4, K)


def test_keypoint_net_runs_one_crop_per_detection_and_frame():
    model = _model()
    seen = []
    model.keypoint_net.register_forward_pre_hook(lambda m, args: seen.append(tuple(args[0].shape)))
    model.keypoint_net.backbone.layer1.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[0]))
    clips, masks = _clips()
    for n in (1, 5, 12):
        seen.clear()
        out = model(clips, masks, top_n=n)
        assert [len(o["boxes"]) for o in out] == [n, n]
        h, w = model.cfg.crop_size
        assert seen == [(2 * n, 3, 3, h, w), 2 * n * 3]  # N crops of F frames each, one backbone image per crop frame


def _naive_detections(logits, log_size, stride, top_n, threshold):
    """Reference: brute-force 8-neighbour peaks, peaks sorted by probability, then (top_n only) the other cells."""
    prob = torch.sigmoid(logits[0]).tolist()
    h, w = len(prob), len(prob[0])
    cells = []
    for y in range(h):
        for x in range(w):
            nb = [prob[j][i] for j in range(max(0, y - 1), min(h, y + 2)) for i in range(max(0, x - 1), min(w, x + 2))]
            cells.append((prob[y][x] >= max(nb), prob[y][x], x, y))
    cells.sort(key=lambda c: (not c[0], -c[1]))
    chosen = cells[:top_n] if top_n is not None else [c for c in cells if c[0] and c[1] >= threshold]
    boxes = []
    for _, _, x, y in chosen:
        bw, bh = math.exp(log_size[0, y, x]) * stride, math.exp(log_size[1, y, x]) * stride
        cx, cy = (x + 0.5) * stride, (y + 0.5) * stride
        boxes.append([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2])
    return torch.tensor(boxes).reshape(-1, 4), torch.tensor([c[1] for c in chosen])


@pytest.mark.parametrize("top_n", [None, 3, 20])
def test_detection_decoding_matches_a_brute_force_peak_search(top_n):
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(1, 1, 6, 8, generator=g) - 3.0
    logits[0, 0, 2, 3], logits[0, 0, 2, 4], logits[0, 0, 4, 6] = 3.0, 2.0, 1.0  # (2, 4) is next to a higher cell
    log_size = torch.randn(1, 2, 6, 8, generator=g)
    (boxes, scores), = decode_detections(logits, log_size, stride=8, top_n=top_n, max_detections=30, threshold=0.5)
    ref_boxes, ref_scores = _naive_detections(logits[0], log_size[0], 8, top_n, 0.5)
    torch.testing.assert_close(scores, ref_scores)
    torch.testing.assert_close(boxes, ref_boxes)


def test_detection_decoding_on_a_hand_made_heatmap():
    logits = torch.full((1, 1, 4, 5), -6.0)
    logits[0, 0, 1, 2] = 4.0   # person A, centre cell (x=2, y=1)
    logits[0, 0, 1, 3] = 3.0   # A's neighbour: suppressed
    logits[0, 0, 3, 0] = 0.5   # person B, p = 0.62
    log_size = torch.zeros(1, 2, 4, 5)
    log_size[0, :, 1, 2] = torch.tensor([math.log(2.0), math.log(4.0)])  # A: 16 x 32 px at stride 8
    (boxes, scores), = decode_detections(logits, log_size, stride=8, threshold=0.5)
    # A: centre (2.5 * 8, 1.5 * 8) = (20, 12); B: centre (4, 28), size 8 x 8 (log size 0).
    torch.testing.assert_close(boxes, torch.tensor([[12.0, -4.0, 28.0, 28.0], [0.0, 24.0, 8.0, 32.0]]))
    torch.testing.assert_close(scores, torch.sigmoid(torch.tensor([4.0, 0.5])))


def test_crop_of_the_whole_frame_is_the_frame():
    clips, _ = _clips(B=2, F=3, H=64, W=48)
    boxes = torch.tensor([[0.0, 0.0, 48.0, 64.0]])
    crops, windows = box_crops(clips, boxes, torch.tensor([1]), crop_size=(64, 48), box_scale=1.0)
    torch.testing.assert_close(crops[0], clips[1], atol=1e-4, rtol=0)  # float rounding of the grid
    torch.testing.assert_close(windows, boxes)


def test_crops_of_several_clips_are_slices_of_their_own_frames():
    clips, _ = _clips(B=2, F=3, H=96, W=128)
    corners = [(10, 4), (70, 30), (0, 0)]  # integer windows of exactly the crop size: a crop is a plain slice
    boxes = torch.tensor([[x, y, x + 48.0, y + 64.0] for x, y in corners])
    batch_index = torch.tensor([1, 0, 1])
    crops, _ = box_crops(clips, boxes, batch_index, crop_size=(64, 48), box_scale=1.0)
    for n, ((x, y), b) in enumerate(zip(corners, batch_index.tolist())):
        torch.testing.assert_close(crops[n], clips[b, :, :, y:y + 64, x:x + 48], atol=1e-4, rtol=0)


def test_crop_window_keeps_the_aspect_ratio_and_context():
    clips, _ = _clips(B=1, H=64, W=96)
    boxes = torch.tensor([[10.0, 20.0, 20.0, 30.0]])  # 10 x 10 box -> 4:3 (h:w) crop: 10 wide, 13.33 high, x 1.25
    _, windows = box_crops(clips, boxes, torch.tensor([0]), crop_size=(64, 48), box_scale=1.25)
    w, h = 10 * 1.25, 10 * 64 / 48 * 1.25
    torch.testing.assert_close(windows, torch.tensor([[15 - w / 2, 25 - h / 2, 15 + w / 2, 25 + h / 2]]))


def test_heatmap_decoding_by_hand_and_round_trip_with_targets():
    heat = torch.zeros(1, K, 16, 12)
    heat[0, :, 5, 7] = 1.0  # every joint at cell (x=7, y=5)
    windows = torch.tensor([[100.0, 40.0, 148.0, 104.0]])  # 48 x 64 px: 4 px per cell
    kp, scores = decode_heatmaps(heat, windows)
    torch.testing.assert_close(kp[0, 0], torch.tensor([100 + 7.5 * 4, 40 + 5.5 * 4]))
    assert torch.all(scores == 1.0)
    g = torch.Generator().manual_seed(3)
    # Joints away from the border: the argmax is the nearest cell (<= 2 px off) and the quarter-cell shift towards the
    # higher neighbour (the joint's side of a symmetric Gaussian) leaves at most a quarter cell, 1 px.
    joints = windows[:, None, :2] + 4 + torch.rand(1, K, 2, generator=g) * torch.tensor([40.0, 56.0])
    decoded, _ = decode_heatmaps(keypoint_targets(joints, windows, (16, 12), sigma=1.0), windows)
    assert (decoded - joints).abs().max() <= 1.0 + 1e-4


def test_inference_is_deterministic():
    clips, masks = _clips()
    a, b = _model()(clips, masks, top_n=3), _model()(clips, masks, top_n=3)
    for oa, ob in zip(a, b):
        for k in oa:
            assert torch.equal(oa[k], ob[k])


def test_losses_train_both_stages(synth_small):
    torch.manual_seed(0)
    model = TopDownPoseEstimator(TopDownConfig(max_size=96)).train()
    clips, _, targets = collate_clips([PoseTrackClips(synth_small, "train", 3, 96, train=True)[i] for i in (0, 1)])
    losses = topdown_loss(model, clips, targets)
    assert set(losses) == {"center", "size", "keypoint"} and all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert model.detector.center.weight.grad.abs().sum() > 0
    assert model.keypoint_net.fuse3.weight.grad.abs().sum() > 0
    empty = [{**t, "boxes": t["boxes"][:0], "keypoints": t["keypoints"][:0], "annotated": t["annotated"][:0]}
             for t in targets]
    assert topdown_loss(model, clips, empty)["keypoint"] == 0


def test_training_is_reproducible(synth_small):
    cfg = TopDownConfig(max_size=96)
    _, h1 = train_topdown(synth_small, cfg, steps=2, seed=5, batch_size=1)
    _, h2 = train_topdown(synth_small, cfg, steps=2, seed=5, batch_size=1)
    assert h1 == h2 and len(h1) == 2


def test_evaluation_of_an_oracle_scores_100(synth_small):
    """Outputs equal to the targets must come back as the GT people: checks conventions, order and frame pairing."""
    from pavenet_lite.baselines.topdown_eval import predict_split_topdown
    from pavenet_lite.evaluation import evaluate_posetrack, joint_recall_breakdown

    class Oracle(torch.nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.cfg = cfg
            self.data = PoseTrackClips(synth_small, "val", cfg.num_frames, cfg.max_size, train=False)
            self.seen = 0

        def forward(self, clips, masks):
            out = []
            for _ in range(len(clips)):
                t = self.data[self.seen][1]
                self.seen += 1
                n = len(t["keypoints"])
                out.append({"boxes": t["boxes"], "scores": torch.linspace(0.9, 0.5, n), "keypoints": t["keypoints"],
                            "keypoint_scores": torch.ones(n, K)})
            return out

    oracle = Oracle(TopDownConfig(num_frames=3))
    gt, pred = predict_split_topdown(oracle, synth_small, "val", batch_size=3)
    assert oracle.seen == len(oracle.data)
    assert evaluate_posetrack(gt, pred).table["Total"] == pytest.approx(100.0)
    assert joint_recall_breakdown(gt, pred)["all"]["recall"] == pytest.approx(100.0)
