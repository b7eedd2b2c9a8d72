"""MedicalNet checkpoints: identical features from an independent MedicalNet-architecture network; safe loading."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from monai_pipelines.networks.medicalnet import load_medicalnet_weights
from monai_pipelines.networks.resnet3d import resnet50_3d

TINY = (4, 8, 16, 32)


class _Bottleneck(nn.Module):
    """MedicalNet's Bottleneck (Tencent/MedicalNet models/resnet.py), written from the paper's description."""

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, dilation=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv3d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = nn.Conv3d(planes, planes, 3, stride=stride, dilation=dilation, padding=dilation, bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = nn.Conv3d(planes, planes * 4, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


class _MedicalNetResNet(nn.Module):
    """MedicalNet ResNet-50 backbone: conv1 stride 2, layer3/4 stride 1 dilation 2/4, shortcut B, + conv_seg head."""

    def __init__(self, widths=(64, 128, 256, 512), layers=(3, 4, 6, 3)):
        super().__init__()
        self.inplanes = widths[0]
        self.conv1 = nn.Conv3d(1, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm3d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(widths[0], layers[0])
        self.layer2 = self._make_layer(widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(widths[2], layers[2], stride=1, dilation=2)
        self.layer4 = self._make_layer(widths[3], layers[3], stride=1, dilation=4)
        self.conv_seg = nn.Sequential(nn.ConvTranspose3d(widths[3] * 4, 8, 2, stride=2), nn.Conv3d(8, 2, 1))

    def _make_layer(self, planes, blocks, stride=1, dilation=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(
                nn.Conv3d(self.inplanes, planes * 4, kernel_size=1, stride=stride, bias=False), nn.BatchNorm3d(planes * 4)
            )
        layers = [_Bottleneck(self.inplanes, planes, stride, dilation, downsample)]
        self.inplanes = planes * 4
        layers += [_Bottleneck(self.inplanes, planes, dilation=dilation) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def _medicalnet_checkpoint(tmp_path, widths=TINY):
    torch.manual_seed(0)
    reference = _MedicalNetResNet(widths)
    with torch.no_grad():  # non-trivial BN statistics so a mismatch cannot hide
        for m in reference.modules():
            if isinstance(m, nn.BatchNorm3d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    path = tmp_path / "resnet_50.pth"
    # MedicalNet saves a DataParallel model: {'state_dict': {'module.conv1.weight', ...}}
    torch.save({"state_dict": {f"module.{k}": v for k, v in reference.state_dict().items()}}, path)
    return reference.eval(), path


def test_medicalnet_checkpoint_gives_identical_features(tmp_path, caplog):
    reference, path = _medicalnet_checkpoint(tmp_path)
    net = resnet50_3d(widths=TINY, medicalnet=True)
    with caplog.at_level(logging.INFO, logger="monai_pipelines"):
        report = load_medicalnet_weights(net, path)
    n_backbone = len([k for k in net.state_dict() if not k.startswith("fc.")])
    assert report.counts() == {"loaded": n_backbone, "missing": 2, "unexpected": 4, "mismatched": 0}
    assert report.missing == ["fc.bias", "fc.weight"]
    assert all(k.startswith("conv_seg.") for k in report.unexpected)
    assert f"loaded {n_backbone}, missing 2" in caplog.text
    x = torch.randn(2, 1, 32, 32, 32)
    net.eval()
    with torch.no_grad():
        assert torch.allclose(net.forward_features(x), reference(x), atol=1e-5)


def test_plain_geometry_loads_but_computes_other_features(tmp_path):
    reference, path = _medicalnet_checkpoint(tmp_path)
    net = resnet50_3d(widths=TINY, medicalnet=False)  # like MONAI's resnet50: keys match, strides don't
    assert load_medicalnet_weights(net, path).counts()["mismatched"] == 0
    x = torch.randn(1, 1, 32, 32, 32)
    with torch.no_grad():
        assert net.eval().forward_features(x).shape != reference(x).shape


def test_factory_pretrained_path_and_multichannel_conv1(tmp_path):
    _, path = _medicalnet_checkpoint(tmp_path)
    net = resnet50_3d(widths=TINY, pretrained_path=path)
    source = torch.load(path, weights_only=True)["state_dict"]
    assert torch.equal(net.layer4[2].conv3.weight, source["module.layer4.2.conv3.weight"])
    four = resnet50_3d(in_channels=4, widths=TINY)
    report = load_medicalnet_weights(four, path)
    assert "conv1.weight" in report.loaded
    assert torch.allclose(four.conv1.weight.sum(1, keepdim=True), source["module.conv1.weight"], atol=1e-6)


class _Payload:
    def __reduce__(self):
        return (print, ("pickled code ran",))


def test_refuses_pickled_objects(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"module.conv1.weight": torch.zeros(1)}, "extra": _Payload()}, path)
    net = resnet50_3d(widths=TINY)
    before = net.conv1.weight.clone()
    with pytest.raises(ValueError, match="refused to load.*pickled") as error:
        load_medicalnet_weights(net, path)
    assert "\n" not in str(error.value)  # one line
    assert "pickled code ran" not in capsys.readouterr().out
    assert torch.equal(net.conv1.weight, before)


def test_errors(tmp_path):
    net = resnet50_3d(widths=TINY)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        load_medicalnet_weights(net, tmp_path / "missing.pth")
    path = tmp_path / "other.pth"
    torch.save({"state_dict": {"module.something.weight": torch.zeros(3)}}, path)
    assert load_medicalnet_weights(net, path).counts()["loaded"] == 0
    with pytest.raises(ValueError, match="backbone keys missing"):
        load_medicalnet_weights(net, path, strict=True)
    (tmp_path / "junk.pth").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="junk.pth: not a readable PyTorch checkpoint"):
        load_medicalnet_weights(net, tmp_path / "junk.pth")
