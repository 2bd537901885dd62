"""CUDA-only checks (skipped without a GPU): AMP forward + backward and the sampling kernel on the device."""
from __future__ import annotations

import pytest
import torch

from pavenet_lite.config import get_config
from pavenet_lite.model import build_model
from pavenet_lite.model.deformable_attention import deformable_sample

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_amp_forward_backward(dtype):
    torch.manual_seed(0)
    model = build_model(get_config("small", num_frames=3)).cuda()
    clips = torch.randn(2, 3, 3, 256, 192, device="cuda")
    masks = torch.zeros(2, 256, 192, dtype=torch.bool, device="cuda")
    masks[1, :, 160:] = True
    with torch.autocast("cuda", dtype=dtype):
        out = model(clips, masks)
        loss = (out["pred_keypoints"].float().sum() + out["pred_logits"].float().sum()
                + out["refine_outputs"][-1]["pred_keypoints"].float().sum()
                + model.flows["dec"].log_prob(out["pred_keypoints"] - 0.5).sum())
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_kernel_on_cuda_matches_cpu():
    g = torch.Generator().manual_seed(0)
    shapes = [(12, 10), (6, 5), (3, 3)]
    N = sum(h * w for h, w in shapes)
    value = torch.randn(2, 3, N, 4, 8, generator=g)
    loc = torch.rand(2, 20, 4, 3, 3, 5, 2, generator=g) * 1.4 - 0.2
    wts = torch.rand(2, 20, 4, 3, 3, 5, generator=g)
    cpu = deformable_sample(value, shapes, loc, wts)
    gpu = deformable_sample(value.cuda(), shapes, loc.cuda(), wts.cuda())
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-5, atol=1e-5)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        half = deformable_sample(value.cuda().bfloat16(), shapes, loc.cuda(), wts.cuda())
    assert half.dtype == torch.bfloat16
    torch.testing.assert_close(half.float().cpu(), cpu, rtol=0.05, atol=0.05)


def test_topdown_baseline_on_cuda_matches_cpu(synth_small, monkeypatch):
    """The two-stage baseline of the runtime benchmark: inference and both training losses on the device."""
    from pavenet_lite.baselines import TopDownConfig, TopDownPoseEstimator, topdown_loss
    from pavenet_lite.data.clips import PoseTrackClips, collate_clips

    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # TF32 convolutions could move heatmap argmaxes
    torch.manual_seed(0)
    model = TopDownPoseEstimator(TopDownConfig(max_size=96)).eval()
    clips, masks, targets = collate_clips([PoseTrackClips(synth_small, "train", 3, 96, train=False)[i]
                                           for i in (0, 1)])
    cpu = model(clips, masks, top_n=3)
    gpu = model.cuda()(clips.cuda(), masks.cuda(), top_n=3)
    for c, g in zip(cpu, gpu):
        for k in c:
            torch.testing.assert_close(g[k].cpu(), c[k], atol=1e-3, rtol=1e-3)
    on_device = [{k: v.cuda() if torch.is_tensor(v) else v for k, v in t.items()} for t in targets]
    gpu_losses = topdown_loss(model.train(), clips.cuda(), on_device)
    cpu_losses = topdown_loss(model.cpu(), clips, targets)
    for k in cpu_losses:
        torch.testing.assert_close(gpu_losses[k].cpu(), cpu_losses[k], atol=1e-3, rtol=1e-3)
