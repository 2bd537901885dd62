"""The ResNet backbone against torchvision's parameter counts and features, frozen BN, weight loading."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from pavenet_lite.model.backbone import BackboneWeightsError, FrozenBatchNorm2d, ResNet, load_backbone_weights


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
