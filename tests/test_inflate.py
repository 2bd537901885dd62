"""Image-to-video initialisation: an inflated F = 3 model equals its F = 1 source on a clip of identical frames."""
from __future__ import annotations

import json

import pytest
import torch

from pavenet_lite.config import get_config
from pavenet_lite.model import build_model
from pavenet_lite.model.deformable_attention import FrameLinear
from pavenet_lite.model.inflate import frame_map, inflate_state_dict
from pavenet_lite.train import TrainConfig, Trainer
from tests.conftest import FAST_MODEL
from tests.test_model import make_batch


def _model(Fr: int, seed: int = 0, **kw):
    torch.manual_seed(seed)
    model = build_model(get_config("tiny", num_frames=Fr, dropout=0.0, **kw)).eval()
    # FrameLinear layers start at zero, which would make every frame trivially alike: randomise them.
    for m in model.modules():
        if isinstance(m, FrameLinear):
            torch.nn.init.normal_(m.weight, std=0.05)
            torch.nn.init.normal_(m.bias, std=0.5)
    return model


@pytest.mark.parametrize("new, old, expected", [(3, 1, [0, 0, 0]), (5, 3, [0, 0, 1, 2, 2]), (3, 3, [0, 1, 2]),
                                                (1, 3, [1]), (3, 5, [1, 2, 3])])
def test_frame_map_aligns_centres(new, old, expected):
    assert frame_map(new, old) == expected


def test_inflated_model_equals_the_image_model_on_a_still_clip():
    image = _model(1)
    video = _model(3, seed=1)
    video.load_state_dict(inflate_state_dict(image.state_dict(), 1, video, 3))
    frame, masks = make_batch(1)                                                   # [B, 1, 3, H, W]
    still = frame.expand(-1, 3, -1, -1, -1).contiguous()                           # [B, 3, 3, H, W]
    with torch.no_grad():
        a, b = image(frame, masks), video(still, masks)
    torch.testing.assert_close(b["pred_logits"], a["pred_logits"], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(b["pred_keypoints"], a["pred_keypoints"], atol=1e-5, rtol=1e-4)
    for x, y in zip(b["refine_outputs"], a["refine_outputs"]):
        torch.testing.assert_close(x["pred_keypoints"], y["pred_keypoints"], atol=1e-5, rtol=1e-4)
    # The neighbours are really read: changing one of them changes the centre-frame output.
    moved = still.clone()
    moved[:, 0] = torch.roll(moved[:, 0], shifts=9, dims=-1)
    with torch.no_grad():
        c = video(moved, masks)
    assert not torch.allclose(c["pred_keypoints"], b["pred_keypoints"], atol=1e-4)


def test_deflating_keeps_the_centre_frame():
    video = _model(3)
    image = _model(1, seed=1)
    state = inflate_state_dict(video.state_dict(), 3, image, 1)
    key = "pose_decoder.layers.0.cross_attn.sampling_offsets.weight"
    assert torch.equal(state[key][0], video.state_dict()[key][1])
    refine = [k for k in state if k.startswith("pose_decoder.refine.0.0.")]
    assert refine and all(torch.equal(state[k], video.state_dict()[k.replace("refine.0.0.", "refine.0.1.")])
                          for k in refine)


def test_another_architecture_fails_naming_the_parameter():
    small = _model(1, hidden_dim=32, ffn_dim=64)
    with pytest.raises(ValueError, match=r"F = 3 model from F = 1 weights: .*shape \(.*32.*the model expects"):
        inflate_state_dict(small.state_dict(), 1, _model(3), 3)


def test_trainer_starts_from_inflated_weights_and_records_their_card(synth_small, tmp_path):
    def config(out, frames, **kw):
        return TrainConfig(data=str(synth_small), out=str(tmp_path / out), frames=frames, steps=1, batch_size=2,
                           val_videos=1, progress=False, overrides=dict(FAST_MODEL), **kw)

    image = Trainer(config("img", 1))
    image.fit()
    video = Trainer(config("vid", 3, init_from=str(tmp_path / "img" / "last.pt")))
    key = "pose_decoder.layers.0.cross_attn.value_proj.weight"
    assert torch.equal(video.model.state_dict()[key], image.eval_model().state_dict()[key])  # the shipped (EMA) weights
    assert "--init-from" in video.command()
    video.fit()
    card = json.loads((tmp_path / "vid" / "card.json").read_text())
    assert card["init_card"]["config"]["num_frames"] == 1 and card["init_card"]["command"] == image.command()
    fresh = Trainer(config("new", 3, seed=5))
    assert not torch.equal(fresh.model.state_dict()[key], image.model.state_dict()[key])
