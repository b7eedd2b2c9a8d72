"""ResNet50-3D: topology, MedicalNet geometry, parameter count, head."""

from __future__ import annotations

import pytest
import torch
from monai.networks.nets import resnet50

from monai_pipelines.networks.resnet3d import CosineLinear, ResNet3D, resnet50_3d

TINY = (4, 8, 16, 32)


def test_full_size_parameter_count_matches_resnet50_3d():
    net = resnet50_3d(num_classes=2, in_channels=1)
    backbone = sum(p.numel() for k, p in net.named_parameters() if not k.startswith("fc."))
    assert backbone == 46_155_072  # MedicalNet ResNet-50 backbone (the seed's "~46.2M")
    assert sum(p.numel() for p in net.parameters()) == backbone + 2048 * 2 + 2
    # same keys and shapes as MONAI's resnet50 backbone (the reason MedicalNet weights "load" into it)
    monai_net = resnet50(spatial_dims=3, n_input_channels=1, conv1_t_stride=2, bias_downsample=False, feed_forward=False)
    ours = {k: v.shape for k, v in net.state_dict().items() if not k.startswith("fc.")}
    assert ours == {k: v.shape for k, v in monai_net.state_dict().items()}


@pytest.mark.parametrize("medicalnet, size", [(True, 4), (False, 1)])
def test_feature_map_geometry(medicalnet, size):
    net = resnet50_3d(widths=TINY, medicalnet=medicalnet).eval()
    x = torch.randn(2, 1, 32, 32, 32)
    with torch.no_grad():
        features = net.forward_features(x)
        logits = net(x)
    # MedicalNet: /2 conv1, /2 maxpool, /2 layer2, layer3/4 dilated (stride 1) -> /8; plain ResNet -> /32
    assert features.shape == (2, 32 * 4, size, size, size)
    assert logits.shape == (2, 2)


def test_medicalnet_stages_are_dilated():
    net = resnet50_3d(widths=TINY)
    for name, dilation in (("layer3", 2), ("layer4", 4)):
        for block in getattr(net, name):
            assert block.conv2.stride == (1, 1, 1) and block.conv2.dilation == (dilation,) * 3
        assert getattr(net, name)[0].downsample[0].stride == (1, 1, 1)
        assert getattr(net, name)[0].downsample[0].bias is None
    assert net.conv1.stride == (2, 2, 2) and net.layer2[0].conv2.stride == (2, 2, 2)


def test_dropout_head_and_channels():
    net = ResNet3D(num_classes=3, in_channels=4, widths=TINY, dropout=0.5)
    assert isinstance(net.dropout, torch.nn.Dropout) and net.dropout.p == 0.5
    assert net.fc.in_features == 128 and net.fc.out_features == 3
    net.eval()
    x = torch.randn(1, 4, 24, 24, 24)
    with torch.no_grad():
        assert torch.equal(net(x), net(x))  # no dropout at eval
    net.train()
    assert not torch.equal(net.dropout(torch.ones(1000)), torch.ones(1000))


def test_bad_layers_rejected():
    with pytest.raises(ValueError, match="4 stages"):
        ResNet3D(layers=(3, 4, 6))


def test_cosine_head_is_scaled_cosine():
    net = resnet50_3d(widths=TINY, medicalnet=False, head="cosine", head_scale=30.0, dropout=0.0).eval()
    assert isinstance(net.fc, CosineLinear) and net.fc.weight.shape == (2, 128) and "fc.bias" not in net.state_dict()
    x = torch.randn(3, 1, 32, 32, 32)
    with torch.no_grad():
        features = torch.flatten(net.avgpool(net.forward_features(x)), 1)
        logits = net(x)
    w = net.fc.weight
    expected = 30.0 * torch.stack([torch.stack([f @ wj / (f.norm() * wj.norm()) for wj in w]) for f in features])
    assert torch.allclose(logits, expected, atol=1e-4)
    assert bool((logits.abs() <= 30.0 + 1e-4).all())
    # invariant to the feature norm (the point of the head): scaling the features leaves the logits unchanged
    assert torch.allclose(net.fc(5.0 * features), logits, atol=1e-4)
    assert float(CosineLinear(128, 2, scale=1.0)(features).abs().max()) <= 1.0 + 1e-6


def test_cosine_head_trains_with_ldam_and_gradients_reach_weights():
    from monai_pipelines.losses.ldam_loss import LDAMLoss

    torch.manual_seed(0)
    head = CosineLinear(8, 2, scale=30.0)
    x, y = 0.3 * torch.randn(16, 8), torch.tensor([0, 1] * 8)
    x[torch.arange(16), y] += 2.0  # class j points along feature j: separable by angle
    loss_fn = LDAMLoss([8, 8], s=30.0, scaled_logits=True)
    opt = torch.optim.SGD(head.parameters(), lr=0.1)
    first = float(loss_fn(head(x), y))
    for _ in range(100):
        opt.zero_grad()
        loss = loss_fn(head(x), y)
        loss.backward()
        opt.step()
    assert float(loss) < 0.5 * first and bool((head(x).argmax(1) == y).all())


def test_head_options():
    with pytest.raises(ValueError, match="head must be one of"):
        ResNet3D(widths=TINY, head="arcface")
    with pytest.raises(ValueError, match="scale must be positive"):
        CosineLinear(4, 2, scale=0.0)
    linear = resnet50_3d(widths=TINY)
    assert isinstance(linear.fc, torch.nn.Linear) and linear.head == "linear"
