"""Keypoint arithmetic against plain-Python loops and hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pavenet_lite.joints import K, MODEL_OKS_SIGMAS
from pavenet_lite.keypoint_ops import (keypoint_areas, keypoint_l1, normalised_to_pixels, oks, oks_sigmas,
                                       pairwise_oks, pixels_to_normalised)


def loop_oks(a, b, annotated, area):
    """OKS of two poses [K][2] by a loop over joints; 0 when no joint is annotated."""
    sims = [math.exp(-((a[k][0] - b[k][0]) ** 2 + (a[k][1] - b[k][1]) ** 2) / (2 * area * (2 * MODEL_OKS_SIGMAS[k]) ** 2))
            for k in range(len(a)) if annotated[k]]
    return sum(sims) / len(sims) if sims else 0.0


def box_area(p):
    xs, ys = [float(v) for v in p[:, 0]], [float(v) for v in p[:, 1]]
    return max((max(xs) - min(xs)) * (max(ys) - min(ys)), 1e-6)


def test_sigmas_are_the_model_order_table():
    assert oks_sigmas().tolist() == pytest.approx(list(MODEL_OKS_SIGMAS))
    assert oks_sigmas(3).tolist() == pytest.approx([0.026, 0.079, 0.079])   # nose, head_bottom, head_top
    assert oks_sigmas().dtype == torch.float32


def test_oks_hand_case():
    # One joint annotated, 1 unit away, area 2: exp(-1 / (2 * 2 * (2 * 0.026)^2)); the others do not count.
    pred, gt = torch.zeros(K, 2), torch.zeros(K, 2)
    pred[0, 0], pred[5:, :] = 1.0, 100.0
    ann = torch.zeros(K, dtype=torch.bool)
    ann[0] = True
    assert oks(pred, gt, ann, torch.tensor(2.0)).item() == pytest.approx(math.exp(-1 / (4 * 0.052 ** 2)), rel=1e-6)
    assert oks(gt, gt, ann, torch.tensor(2.0)).item() == 1.0
    assert oks(pred, gt, torch.zeros(K, dtype=torch.bool), torch.tensor(2.0)).item() == 0.0


def test_oks_and_l1_match_loops():
    gen = torch.Generator().manual_seed(1)
    pred, gt = torch.rand(3, K, 2, generator=gen), torch.rand(3, K, 2, generator=gen)
    pred[0] = gt[0] + 0.01 * torch.randn(K, 2, generator=gen)
    ann = torch.rand(3, K, generator=gen) > 0.4
    ann[2] = False
    areas = torch.tensor([0.05, 0.1, 0.2])
    got_oks, got_l1 = oks(pred, gt, ann, areas), keypoint_l1(pred, gt, ann)
    for m in range(3):
        joints = [k for k in range(K) if ann[m, k]]
        l1 = sum(abs(float(pred[m, k, c] - gt[m, k, c])) for k in joints for c in range(2)) / max(2 * len(joints), 1)
        assert got_oks[m].item() == pytest.approx(loop_oks(pred[m].tolist(), gt[m].tolist(), ann[m], areas[m].item()),
                                                  rel=1e-5, abs=1e-12)
        assert got_l1[m].item() == pytest.approx(l1, rel=1e-5, abs=1e-12)
    assert got_oks[2].item() == 0.0 and got_l1[2].item() == 0.0
    # every joint counts when annotated is None
    everything = torch.ones(3, K, dtype=torch.bool)
    torch.testing.assert_close(oks(pred, gt, None, areas), oks(pred, gt, everything, areas))


def test_oks_broadcasts_like_the_matcher():
    gen = torch.Generator().manual_seed(2)
    pred, gt = torch.rand(4, K, 2, generator=gen), torch.rand(3, K, 2, generator=gen)
    ann, areas = torch.rand(3, K, generator=gen) > 0.3, torch.rand(3, generator=gen) + 0.05
    got = oks(pred[:, None], gt[None], ann[None], areas[None])                     # [Q, G]
    assert got.shape == (4, 3)
    for q in range(4):
        for g in range(3):
            assert got[q, g].item() == pytest.approx(loop_oks(pred[q].tolist(), gt[g].tolist(), ann[g],
                                                              areas[g].item()), rel=1e-5)


def test_keypoint_areas_hand_case():
    pose = torch.zeros(K, 2)
    pose[1], pose[2] = torch.tensor([3.0, -1.0]), torch.tensor([-1.0, 1.0])       # box 4 x 2
    assert keypoint_areas(pose).item() == 8.0
    assert keypoint_areas(torch.zeros(2, K, 2)).tolist() == pytest.approx([1e-6, 1e-6])


@pytest.mark.parametrize("num_keypoints", [K, 4])
def test_pairwise_oks_matches_a_loop(num_keypoints):
    kp = torch.rand(2, 5, num_keypoints, 2, generator=torch.Generator().manual_seed(0)).double()
    got = pairwise_oks(kp)
    assert got.shape == (2, 5, 5)
    for b in range(2):
        for i in range(5):
            for j in range(5):
                a, c = kp[b, i].numpy(), kp[b, j].numpy()
                want = loop_oks(a, c, [True] * num_keypoints, (box_area(a) + box_area(c)) / 2)
                assert float(got[b, i, j]) == pytest.approx(want, rel=1e-4)


def test_pixel_conversion_hand_values():
    # A 4 x 2 image: pixel centre 0 is a quarter of the first of 4 columns in; the last centre, 3, is at 7/8.
    px = torch.tensor([[0.0, 0.0], [3.0, 1.0], [-0.5, -0.5], [3.5, 1.5]])
    want = torch.tensor([[0.125, 0.25], [0.875, 0.75], [0.0, 0.0], [1.0, 1.0]])
    assert torch.equal(pixels_to_normalised(px, 4, 2), want)
    assert torch.equal(normalised_to_pixels(want, 4, 2), px)
    assert torch.equal(normalised_to_pixels(want, 4, 2, clamp=True),
                       torch.tensor([[0.0, 0.0], [3.0, 1.0], [0.0, 0.0], [3.0, 1.0]]))


def test_pixel_conversion_numpy_and_torch_agree_and_invert():
    rng = np.random.default_rng(0)
    px = rng.uniform(-0.5, 639.5, size=(6, K, 2))
    norm = pixels_to_normalised(px, 640, 360)
    assert isinstance(norm, np.ndarray) and norm.dtype == np.float64
    np.testing.assert_allclose(norm[..., 0], (px[..., 0] + 0.5) / 640)
    np.testing.assert_allclose(norm[..., 1], (px[..., 1] + 0.5) / 360)
    np.testing.assert_allclose(normalised_to_pixels(norm, 640, 360), px, atol=1e-9)
    back = normalised_to_pixels(torch.from_numpy(norm), 640, 360)
    np.testing.assert_allclose(back.numpy(), px, atol=1e-9)
    clamped = normalised_to_pixels(np.array([[-1.0, 2.0]]), 640, 360, clamp=True)
    np.testing.assert_array_equal(clamped, [[0.0, 359.0]])
