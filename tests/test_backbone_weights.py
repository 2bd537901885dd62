"""ImageNet start: torchvision-named ResNet state dicts load into the backbone; wrong files fail with clear errors."""
from __future__ import annotations

import json

import pytest
import torch

from pavenet_lite.cli import main
from pavenet_lite.model.backbone import BackboneWeightsError, ResNet, load_backbone_weights, resnet_depth
from pavenet_lite.train import TrainConfig, Trainer
from tests.conftest import FAST_MODEL


def torchvision_resnet_state(depth: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors under the names and shapes of torchvision's `resnet{18,34}().state_dict()`, written from
    torchvision/models/resnet.py (BasicBlock: conv1/bn1/conv2/bn2, `downsample` = Sequential(conv1x1, bn) on the first
    block of layer2..4; stem conv1 7x7 + bn1; classifier fc 512 -> 1000), independently of our ResNet."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}

    def bn(name: str, c: int) -> None:
        state.update({f"{name}.weight": torch.rand(c, generator=g) + 0.5, f"{name}.bias": torch.randn(c, generator=g),
                      f"{name}.running_mean": torch.randn(c, generator=g),
                      f"{name}.running_var": torch.rand(c, generator=g) + 0.5,
                      f"{name}.num_batches_tracked": torch.tensor(1000)})

    state["conv1.weight"] = torch.randn(64, 3, 7, 7, generator=g) * 0.05
    bn("bn1", 64)
    blocks = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}[depth]
    inplanes = 64
    for i, (planes, count) in enumerate(zip((64, 128, 256, 512), blocks), 1):
        for j in range(count):
            p = f"layer{i}.{j}"
            state[f"{p}.conv1.weight"] = torch.randn(planes, inplanes, 3, 3, generator=g) * 0.05
            bn(f"{p}.bn1", planes)
            state[f"{p}.conv2.weight"] = torch.randn(planes, planes, 3, 3, generator=g) * 0.05
            bn(f"{p}.bn2", planes)
            if j == 0 and i > 1:
                state[f"{p}.downsample.0.weight"] = torch.randn(planes, inplanes, 1, 1, generator=g) * 0.05
                bn(f"{p}.downsample.1", planes)
            inplanes = planes
    state["fc.weight"], state["fc.bias"] = torch.randn(1000, 512, generator=g), torch.randn(1000, generator=g)
    return state


def test_torchvision_names_load_every_tensor(tmp_path):
    state = torchvision_resnet_state(18)
    torch.save(state, tmp_path / "resnet18.pth")
    for frozen in (True, False):
        model = ResNet(18, frozen_bn=frozen)
        report = load_backbone_weights(model, tmp_path / "resnet18.pth", strict=True)
        assert report.missing == [] and report.unexpected == []
        own = model.state_dict()
        assert all(torch.equal(own[k], v) for k, v in state.items() if k in own and not k.startswith("fc."))
        assert {k for k in state if not k.startswith("fc.") and "num_batches" not in k} <= set(own)


def test_depth_is_read_from_the_names():
    assert resnet_depth(torchvision_resnet_state(18)) == 18
    assert resnet_depth(torchvision_resnet_state(34)) == 34
    assert resnet_depth({k: v for k, v in ResNet(50).state_dict().items()}) == 50
    assert resnet_depth({"conv1.weight": torch.zeros(1)}) is None


def test_wrong_depth_width_or_file_fails_naming_the_file(tmp_path):
    torch.save(torchvision_resnet_state(34), tmp_path / "resnet34.pth")
    with pytest.raises(BackboneWeightsError, match=r"resnet34.pth: holds a ResNet-34, .* ResNet-18"):
        load_backbone_weights(ResNet(18), tmp_path / "resnet34.pth", strict=True)
    torch.save(torchvision_resnet_state(18), tmp_path / "resnet18.pth")
    with pytest.raises(BackboneWeightsError, match=r"resnet18.pth: .*full-width ResNet.*width multiplier 0.25"):
        load_backbone_weights(ResNet(18, width=0.25), tmp_path / "resnet18.pth", strict=True)
    detector = {f"backbone.{k}": v for k, v in torchvision_resnet_state(18).items()}
    detector["neck.convs.0.conv.weight"] = torch.zeros(4, 128, 1, 1)
    torch.save({"meta": {"epoch": 100}, "state_dict": detector}, tmp_path / "petr.pth")
    with pytest.raises(BackboneWeightsError, match=r"petr.pth: not a torchvision ResNet-18.*neck.convs.0.*convert"):
        load_backbone_weights(ResNet(18), tmp_path / "petr.pth", strict=True)
    partial = {k: v for k, v in torchvision_resnet_state(18).items() if not k.startswith("layer4.1.")}
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(BackboneWeightsError, match=r"partial.pth: .* no 'layer4.1.conv1.weight'"):
        load_backbone_weights(ResNet(18), tmp_path / "partial.pth", strict=True)


def _train_cfg(data, out, **kw) -> TrainConfig:
    base = dict(data=str(data), out=str(out), steps=1, batch_size=2, warmup=1, seed=0, val_videos=1,
                progress=False, overrides=dict(FAST_MODEL, backbone_width=1.0), ckpt_every=1000)
    return TrainConfig(**{**base, **kw})


def test_trainer_starts_from_imagenet_and_records_the_file(synth_small, tmp_path):
    state = torchvision_resnet_state(18, seed=1)
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    trainer = Trainer(_train_cfg(synth_small, tmp_path / "run", backbone_weights=str(path), train_videos=1))
    assert torch.equal(trainer.model.backbone.layer3[1].conv2.weight, state["layer3.1.conv2.weight"])
    trainer.fit()
    card = json.loads((tmp_path / "run" / "card.json").read_text())
    assert card["backbone_weights"]["path"] == str(path)
    assert card["backbone_weights"]["bytes"] == path.stat().st_size and len(card["backbone_weights"]["sha256"]) == 64
    assert card["train_config"]["backbone_weights"] == str(path)
    assert f"--backbone-weights {path}" in card["command"] and "--train-videos 1" in card["command"]
    first = sorted(p.stem for p in (synth_small / "annotations" / "train").glob("*.json"))[0]
    assert card["data"]["train_videos"] == [first]


def test_cli_reports_a_width_error_in_one_line(synth_small, tmp_path, capsys):
    torch.save(torchvision_resnet_state(18), tmp_path / "resnet18.pth")
    with pytest.raises(SystemExit) as e:
        main(["train", "--data", str(synth_small), "--out", str(tmp_path / "run"), "--steps", "1",
              "--backbone-weights", str(tmp_path / "resnet18.pth")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "resnet18.pth" in err and "width multiplier 0.25" in err
