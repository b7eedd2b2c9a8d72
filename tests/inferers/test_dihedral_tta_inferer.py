from __future__ import annotations

import pytest
import torch

from monai_pipelines.inferers.dihedral_tta_inferer import DihedralTTAInferer, dihedral_transforms


def test_transform_sets():
    assert len(dihedral_transforms()) == 8 and len(set(dihedral_transforms())) == 8
    assert len(dihedral_transforms(flips=False)) == 4 and len(dihedral_transforms(rot90=False)) == 2
    assert dihedral_transforms(False, False) == [(0, False)]


def test_equivariant_network_unchanged_and_ensemble_averaged():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 4, 1)  # pointwise: commutes with flips and rotations
    x = torch.randn(2, 3, 10, 14)
    expected = torch.softmax(conv(x), 1)
    with torch.no_grad():
        assert torch.allclose(DihedralTTAInferer()(x, conv), expected, atol=1e-6)
        other = torch.nn.Conv2d(3, 4, 1)
        both = DihedralTTAInferer(rot90=False)(x, [conv, other])
        assert torch.allclose(both, (expected + torch.softmax(other(x), 1)) / 2, atol=1e-6)


def test_orientation_dependent_network_is_averaged_over_orientations():
    def top_row_detector(x: torch.Tensor) -> torch.Tensor:  # logits favour class 1 in the first row only
        out = torch.zeros(x.shape[0], 2, *x.shape[2:])
        out[:, 1, 0] = 10.0
        return out

    probs = DihedralTTAInferer()(torch.zeros(1, 1, 6, 6), top_row_detector)
    assert probs.shape == (1, 2, 6, 6)
    assert torch.allclose(probs.sum(1), torch.ones(1, 6, 6))
    # each border pixel is "first row" in some orientations: corners in 4 of 8, centre pixels never
    assert probs[0, 1, 0, 0] > probs[0, 1, 0, 2] > probs[0, 1, 3, 3] == pytest.approx(probs[0, 1, 2, 2])
