from __future__ import annotations

import io

import pytest
import torch
from monai.networks.blocks import ChannelSELayer

from monai_pipelines.networks.glacier_unet import GlacierUNet


@pytest.fixture(scope="module")
def net7() -> GlacierUNet:
    torch.manual_seed(0)
    return GlacierUNet(in_channels=7).eval()


@pytest.mark.parametrize("bands", [5, 7, 15])
def test_accepts_bands_and_outputs_four_classes(bands):
    net = GlacierUNet(in_channels=bands, backbone="resnet34").eval()
    with torch.no_grad():
        out = net(torch.randn(2, bands, 64, 64))
    assert out.shape == (2, 4, 64, 64)
    assert net.encoder.conv1.in_channels == bands


def test_parameter_count_and_cse_in_every_decoder_block(net7):
    assert sum(p.numel() for p in net7.parameters()) == 23_678_163
    assert len(net7.decoder.blocks) == 5
    assert all(isinstance(b.se, ChannelSELayer) for b in net7.decoder.blocks)


def test_any_tile_size_is_padded_and_cropped(net7):
    with torch.no_grad():
        out = net7(torch.randn(1, 7, 45, 70))
    assert out.shape == (1, 4, 45, 70)


def test_compact_checkpoint_under_50_mb_and_reloads(net7):
    buffer = io.BytesIO()
    torch.save(net7.compact_state_dict(), buffer)
    assert buffer.tell() < 50_000_000
    buffer.seek(0)
    other = GlacierUNet(in_channels=7).eval()
    other.load_state_dict(torch.load(buffer, weights_only=True))
    x = torch.randn(1, 7, 32, 32)
    with torch.no_grad():
        assert torch.allclose(other(x), net7(x), atol=5e-2)
        assert other(x).argmax(1).eq(net7(x).argmax(1)).float().mean() > 0.95


def test_no_pretrained_and_gradients_reach_se():
    net = GlacierUNet(in_channels=5, backbone="resnet18")
    loss = net(torch.randn(2, 5, 32, 32)).mean()
    loss.backward()
    assert net.decoder.blocks[0].se.fc[0].weight.grad is not None
