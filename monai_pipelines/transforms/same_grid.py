"""Refuse a paired sample whose images lie on different voxel grids (shape or voxel-to-world affine).

Ours because MONAI's dictionary transforms assume the keys of one sample share a grid: a CT of another shape or
position than its MR would be cropped and compared voxel by voxel, silently wrong.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from monai.config import KeysCollection
from monai.transforms import MapTransform

from monai_pipelines.data.volume_grid import grid_mismatch
from monai_pipelines.transforms.robust_load import CorruptedImageError

__all__ = ["SameGridD", "SameGridDict", "SameGridd"]


class SameGridd(MapTransform):
    """Raise one line naming both files when ``keys`` of a sample are not on the first key's grid.

    Args:
        keys: the images of one sample (loaded, channel first).
        atol: tolerance of the affine comparison, in mm.
    """

    def __init__(self, keys: KeysCollection, atol: float = 1e-3, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.atol = float(atol)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        keys = list(self.key_iterator(d))
        for key in keys[1:]:
            problem = grid_mismatch(d[keys[0]], d[key], self.atol)
            if problem:
                first = getattr(d[keys[0]], "meta", {}).get("filename_or_obj", keys[0])
                other = getattr(d[key], "meta", {}).get("filename_or_obj", key)
                raise CorruptedImageError(first, f"not on the grid of its {key} {other}: {problem}")
        return d


SameGridD = SameGridDict = SameGridd
