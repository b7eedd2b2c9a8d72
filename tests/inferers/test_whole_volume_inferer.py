"""WholeVolumeInferer: one pass over the volume padded to the divisor; sliding windows beyond max_voxels."""

from __future__ import annotations

import pytest
import torch
from monai.data import MetaTensor

from monai_pipelines.inferers import WholeVolumeInferer
from monai_pipelines.networks import UNet3D


def _recording(net):
    seen = []

    def forward(x):
        seen.append(tuple(x.shape[2:]))
        return net(x)

    return forward, seen


def test_one_pass_padded_to_the_divisor_and_cropped_back():
    torch.manual_seed(0)
    net = UNet3D(features=[2, 4, 8]).eval()  # divisor 4
    volume = torch.rand(1, 1, 13, 8, 6)
    forward, seen = _recording(net)
    inferer = WholeVolumeInferer(roi_size=8, divisor=net.divisor, mode="gaussian", padding_mode="replicate")
    with torch.no_grad():
        out = inferer(volume, forward)
        # the network's own output on the replicate-padded volume (MONAI pads symmetrically), cropped back
        padded = torch.nn.functional.pad(volume, (1, 1, 0, 0, 1, 2), mode="replicate")
        expected = net(padded)[:, :, 1:14, :, 1:7]
    assert seen == [(16, 8, 8)]
    assert out.shape == volume.shape
    torch.testing.assert_close(out, expected)


def test_larger_than_max_voxels_goes_through_windows():
    volume = MetaTensor(torch.rand(1, 1, 16, 16, 8), affine=torch.diag(torch.tensor([2.0, 2.0, 2.0, 1.0])))
    forward, seen = _recording(lambda x: 2 * x)
    inferer = WholeVolumeInferer(roi_size=8, divisor=8, max_voxels=16 * 16 * 8 - 1, overlap=0.0)
    out = inferer(volume, forward)
    assert seen == [(8, 8, 8)] * 4
    torch.testing.assert_close(out.as_tensor(), 2 * volume.as_tensor())
    assert isinstance(out, MetaTensor) and torch.equal(out.affine, volume.affine)
    at_limit = WholeVolumeInferer(roi_size=8, divisor=8, max_voxels=16 * 16 * 8)
    assert at_limit.whole_size((16, 16, 7)) == [16, 16, 8]  # padded to the limit: still one pass
    assert at_limit.whole_size((16, 16, 9)) is None


def test_rejects_a_bad_divisor():
    with pytest.raises(ValueError, match="divisor"):
        WholeVolumeInferer(roi_size=8, divisor=0)


def test_extra_network_arguments_reach_the_network_in_both_paths():
    seen = []

    def network(x, scale, offset=0.0):
        seen.append((scale, offset))
        return x * scale + offset

    volume = torch.ones(1, 1, 8, 8, 4)
    for max_voxels in (None, 64):  # one pass; windows of 4^3
        out = WholeVolumeInferer(roi_size=4, max_voxels=max_voxels)(volume, network, 2.0, offset=1.0)
        torch.testing.assert_close(out, torch.full_like(volume, 3.0))
    assert set(seen) == {(2.0, 1.0)}
