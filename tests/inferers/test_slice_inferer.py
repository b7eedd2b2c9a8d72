"""ResizedSliceInferer: whole slices resized to S x S for the network and back, any slicing axis, non-square."""

from __future__ import annotations

import pytest
import torch

from monai_pipelines.inferers.slice_inferer import ResizedSliceInferer


def test_network_sees_square_slices_and_volume_shape_is_kept():
    seen = []

    def net(x):
        seen.append(tuple(x.shape))
        return -x

    volume = torch.linspace(-1, 1, 20 * 30 * 7).reshape(1, 1, 20, 30, 7)
    out = ResizedSliceInferer(32, spatial_dim=2, sw_batch_size=4)(volume, net)
    assert out.shape == volume.shape
    assert seen == [(4, 1, 32, 32), (3, 1, 32, 32)]
    torch.testing.assert_close(out, -volume, atol=2e-2, rtol=0)  # a smooth ramp survives both resizes


@pytest.mark.parametrize("spatial_dim", [0, 1, 2])
def test_identity_without_resize_along_each_axis(spatial_dim):
    volume = torch.rand(2, 1, 6, 5, 4)
    out = ResizedSliceInferer(None, spatial_dim=spatial_dim)(volume, lambda x: x * 3)
    torch.testing.assert_close(out, volume * 3)


def test_rejects_non_volume_input():
    with pytest.raises(ValueError, match="volume batch"):
        ResizedSliceInferer(16)(torch.zeros(1, 1, 8, 8), lambda x: x)
