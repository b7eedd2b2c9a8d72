"""MM-GAN networks: exact output shapes, reference parameter counts, N(0, 0.02) initialisation."""

from __future__ import annotations

import pytest
import torch

from monai_pipelines.networks.mmgan import MMGANDiscriminator, MMGANGenerator


def _count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_generator_256_reference_layout():
    net = MMGANGenerator()  # 8 encoder / 7 decoder blocks, 64 features
    assert len(net.downs) == 8 and len(net.ups) == 7
    # reference (trane293/mm-gan GeneratorUNet): bias-free 4x4 (transposed) convs, final conv with bias
    k = 16
    downs = 3 * 64 + 64 * 128 + 128 * 256 + 256 * 512 + 4 * 512 * 512
    ups = 512 * 512 + 3 * 1024 * 512 + 1024 * 256 + 512 * 128 + 256 * 64
    assert _count(net) == k * (downs + ups) + (128 * 3 * k + 3)
    net.eval()
    with torch.no_grad():
        y = net(torch.rand(1, 3, 256, 256))
    assert y.shape == (1, 3, 256, 256)
    assert (y >= 0).all()  # ReLU output


def test_discriminator_256_gives_16x16_per_sequence():
    net = MMGANDiscriminator(in_channels=6, out_channels=3)
    with torch.no_grad():
        y = net(torch.rand(2, 6, 256, 256))
    assert y.shape == (2, 3, 16, 16)
    k = 16
    expected = (6 * 64 * k + 64) + (64 * 128 * k + 128) + (128 * 256 * k + 256) + (256 * 512 * k + 512) + 512 * 3 * k
    assert _count(net) == expected


@pytest.mark.parametrize("size,num_downs", [(64, 6), (32, 5)])
def test_small_generator_and_discriminator_shapes(size, num_downs):
    g = MMGANGenerator(features=8, num_downs=num_downs)
    d = MMGANDiscriminator(features=8)
    x = torch.rand(2, 3, size, size)
    fake = g(x)
    assert fake.shape == x.shape
    assert d(torch.cat([x, fake], 1)).shape == (2, 3, size // 16, size // 16)
    fake.mean().backward()  # trainable end to end
    assert g.downs[0][0].weight.grad is not None


def test_generator_rejects_indivisible_size():
    with pytest.raises(ValueError, match="divisible"):
        MMGANGenerator(features=4, num_downs=6)(torch.rand(1, 3, 48, 48))


def test_init_normal_002():
    torch.manual_seed(0)
    g = MMGANGenerator(features=16, num_downs=6)
    w = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))])
    assert abs(w.mean().item()) < 2e-3
    assert w.std().item() == pytest.approx(0.02, rel=0.05)
    assert torch.all(g.final[2].bias == 0)
