"""Pix2PixUnetGenerator: reference parameter counts, structure, output range, size checks, initialisation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from monai_pipelines.networks.init import init_weights
from monai_pipelines.networks.pix2pix_generator import Pix2PixUnetGenerator, pix2pix_generator


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_unet_256_parameter_count_matches_reference():
    assert _count(pix2pix_generator("unet_256", 1, 1, norm="batch")) == 54_407_809


def test_factory_downsamplings_and_names():
    assert pix2pix_generator("unet_128", init_type=None).num_downs == 7
    assert pix2pix_generator("unet_512", init_type=None).num_downs == 9
    with pytest.raises(ValueError, match="unet_1024"):
        pix2pix_generator("unet_1024")
    with pytest.raises(ValueError, match="norm"):
        Pix2PixUnetGenerator(norm="group")


def test_each_extra_level_adds_one_ngf8_block():
    # every level beyond 8 adds conv(512->512, no bias) + BN(512) + convT(1024->512, no bias) + BN(512)
    per_level = 512 * 512 * 16 + 2 * 512 + 1024 * 512 * 16 + 2 * 512
    g256 = _count(pix2pix_generator("unet_256", init_type=None))
    assert _count(pix2pix_generator("unet_512", init_type=None)) == g256 + per_level
    assert _count(pix2pix_generator("unet_128", init_type=None)) == g256 - per_level


def test_instance_norm_uses_conv_biases_and_no_norm_parameters():
    net = Pix2PixUnetGenerator(num_downs=5, ngf=4, norm="instance")
    convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert all(c.bias is not None for c in convs)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    batch = Pix2PixUnetGenerator(num_downs=5, ngf=4, norm="batch")
    biased = [m for m in batch.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m.bias is not None]
    assert len(biased) == 1  # only the outermost up-convolution, as in the reference


def test_forward_shape_tanh_range_and_skip_to_input():
    torch.manual_seed(0)
    net = Pix2PixUnetGenerator(in_channels=2, out_channels=3, num_downs=6, ngf=4, norm="instance").eval()
    x = torch.randn(2, 2, 64, 64) * 10
    y = net(x)
    assert y.shape == (2, 3, 64, 64)
    assert y.abs().max() <= 1.0 and y.std() > 0
    with pytest.raises(ValueError, match="multiple of 64"):
        net(torch.zeros(1, 2, 48, 64))


def test_dropout_only_in_inner_levels():
    net = Pix2PixUnetGenerator(num_downs=7, ngf=4, use_dropout=True, init_type=None)
    assert sum(isinstance(m, nn.Dropout) for m in net.modules()) == 7 - 5


def test_init_weights_normal_statistics():
    torch.manual_seed(0)
    net = init_weights(Pix2PixUnetGenerator(num_downs=5, ngf=16, init_type=None), "normal", 0.02)
    conv = net.model.model[0]
    assert abs(conv.weight.std().item() - 0.02) < 0.004 and conv.bias is None
    up = net.model.model[3]
    assert torch.all(up.bias == 0)
    bn = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)][0]
    assert abs(bn.weight.mean().item() - 1.0) < 0.02 and torch.all(bn.bias == 0)
    with pytest.raises(ValueError, match="init_type"):
        init_weights(net, "uniform")


def test_residual_starts_as_identity_keeps_parameters_and_learns():
    torch.manual_seed(0)
    plain = Pix2PixUnetGenerator(num_downs=5, ngf=4, norm="instance")
    net = Pix2PixUnetGenerator(num_downs=5, ngf=4, norm="instance", residual=True)
    assert _count(net) == _count(plain) and net.state_dict().keys() == plain.state_dict().keys()
    x = torch.rand(2, 1, 32, 32) * 2.4 - 1.2
    assert torch.equal(net(x), x.clamp(-1, 1))  # zero last layer: output = input in the [-1, 1] window
    assert not torch.allclose(plain(x), x.clamp(-1, 1), atol=0.1)
    target = (x + 0.3).clamp(-1, 1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(3):
        opt.zero_grad()
        loss = (net(x) - target).abs().mean()
        loss.backward()
        opt.step()
    y = net(x)
    assert (y - target).abs().mean() < (x.clamp(-1, 1) - target).abs().mean()  # the correction is trained
    assert y.abs().max() <= 1.0
    with pytest.raises(ValueError, match="in_channels == out_channels"):
        Pix2PixUnetGenerator(in_channels=2, out_channels=1, num_downs=5, ngf=4, residual=True)
    with pytest.raises(ValueError, match="bool"):
        Pix2PixUnetGenerator(num_downs=5, ngf=4, residual="false")
