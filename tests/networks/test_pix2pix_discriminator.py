"""NLayerDiscriminator: reference parameter count, 30x30 output for 256 input, width cap, agreement with MONAI's."""

from __future__ import annotations

import torch
from monai.networks.nets import PatchDiscriminator
from torch import nn

from monai_pipelines.networks.patch_discriminator import NLayerDiscriminator


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_count_and_output_shape_match_reference():
    net = NLayerDiscriminator(in_channels=2, ndf=64, n_layers=3, norm="batch")
    assert _count(net) == 2_764_609
    with torch.no_grad():
        assert net(torch.randn(1, 2, 256, 256)).shape == (1, 1, 30, 30)


def test_same_size_as_monai_patch_discriminator_for_three_layers_but_capped_beyond():
    ours = NLayerDiscriminator(in_channels=2, ndf=64, n_layers=3)
    monai_d = PatchDiscriminator(spatial_dims=2, channels=64, in_channels=2, num_layers_d=3)
    assert _count(ours) == _count(monai_d)
    widths = [m.out_channels for m in NLayerDiscriminator(2, ndf=8, n_layers=5).modules() if isinstance(m, nn.Conv2d)]
    assert widths == [8, 16, 32, 64, 64, 64, 1]  # capped at 8 x ndf as in the reference


def test_instance_norm_variant_and_small_input():
    net = NLayerDiscriminator(in_channels=3, ndf=4, n_layers=2, norm="instance")
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is not None for c in convs)
    out = net(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 1, 6, 6)  # 32 -> 16 -> 8 -> 7 -> 6
