"""RandDihedral(d): the 8 symmetries of the square, uniformly, the same draw for an image and its label; the
distribution MONAI's RandFlipd x2 + RandRotate90d(prob 0.75) give, which glacier's augmentation used before."""

from collections import Counter

import numpy as np
import pytest
import torch
from monai.transforms import Compose, RandFlipd, RandRotate90d

from monai_pipelines.transforms import RandDihedral, RandDihedrald, apply_symmetry

PATCH = torch.arange(2 * 3 * 3, dtype=torch.float32).reshape(2, 3, 3)  # no symmetry of its own


def _which(out: torch.Tensor) -> int:
    """The symmetry that made `out` from PATCH."""
    (found,) = [s for s in range(8) if torch.equal(apply_symmetry(PATCH, s), out)]
    return found


def test_the_eight_symmetries_are_distinct_and_match_numpy():
    outputs = [apply_symmetry(PATCH, s) for s in range(8)]
    assert len({tuple(o.flatten().tolist()) for o in outputs}) == 8
    assert torch.equal(outputs[0], PATCH)
    for s, out in enumerate(outputs):
        assert np.array_equal(apply_symmetry(PATCH.numpy(), s), out.numpy())


def test_uniform_like_monai_flips_and_rotations():
    """Each symmetry about 1/8 of the draws, as for the three MONAI transforms it replaces."""
    draws = 4000
    ours = RandDihedrald(keys=["image", "label"]).set_random_state(0)
    monai = Compose([RandFlipd(["image", "label"], prob=0.5, spatial_axis=0),
                     RandFlipd(["image", "label"], prob=0.5, spatial_axis=1),
                     RandRotate90d(["image", "label"], prob=0.75)]).set_random_state(0)
    for name, transform in {"ours": ours, "monai": monai}.items():
        counts = Counter()
        for _ in range(draws):
            out = transform({"image": PATCH.clone(), "label": PATCH[:1].clone()})
            symmetry = _which(torch.as_tensor(out["image"]))
            assert torch.equal(torch.as_tensor(out["label"]), apply_symmetry(PATCH[:1], symmetry))  # same draw
            counts[symmetry] += 1
        assert set(counts) == set(range(8)), (name, counts)
        assert all(abs(c / draws - 1 / 8) < 0.025 for c in counts.values()), (name, counts)


def test_seeded_prob_and_axes():
    a = [_which(RandDihedral().set_random_state(3)(PATCH)) for _ in range(3)]
    b = [_which(RandDihedral().set_random_state(3)(PATCH)) for _ in range(3)]
    assert a == b
    assert all(torch.equal(RandDihedral(prob=0.0)(PATCH), PATCH) for _ in range(5))
    volume = torch.rand(1, 4, 5, 6)
    out = RandDihedral(spatial_axes=(1, 2)).set_random_state(1)(volume)
    assert out.shape[1] == 4 and sorted(out.shape[2:]) == [5, 6]
    with pytest.raises(ValueError, match="two different axes"):
        RandDihedral(spatial_axes=(1, 1))
