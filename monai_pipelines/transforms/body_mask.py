"""Body mask of a CT volume in HU: threshold, largest connected component, holes filled slice by slice.

Ours because MONAI has thresholding and FillHoles but no CT body outline: lungs touch the volume's top and bottom, so
a 3D hole fill misses them; filling each axial slice keeps them inside the body.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms import MapTransform, Transform
from scipy import ndimage

__all__ = [
    "BodyMask",
    "BodyMaskD",
    "BodyMaskDict",
    "BodyMaskd",
    "ct_body_mask",
    "fill_holes_per_slice",
    "largest_component",
]


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest connected component of a boolean mask (scipy; MONAI's version needs scikit-image)."""
    labels, n = ndimage.label(mask)
    if n < 2:
        return np.asarray(mask, dtype=bool)
    return labels == int(np.argmax(np.bincount(labels.ravel())[1:])) + 1


def fill_holes_per_slice(mask: np.ndarray, slice_axis: int = -1) -> np.ndarray:
    """Holes filled in every slice along ``slice_axis`` (a 3D fill misses cavities open at the volume's ends)."""
    slices = np.moveaxis(np.asarray(mask, dtype=bool), slice_axis, 0)
    return np.moveaxis(np.stack([ndimage.binary_fill_holes(s) for s in slices]), 0, slice_axis)


def ct_body_mask(volume: np.ndarray, threshold_hu: float = -500.0, slice_axis: int = -1) -> np.ndarray:
    """Boolean body mask of a spatial CT volume in HU: ``> threshold_hu``, largest component, holes filled per slice."""
    data = np.nan_to_num(np.asarray(volume, dtype=np.float32), nan=-1024.0)
    mask = largest_component(data > threshold_hu)
    return fill_holes_per_slice(mask, slice_axis) if mask.ndim == 3 else ndimage.binary_fill_holes(mask)


class BodyMask(Transform):
    """Channel-first CT in HU -> uint8 body mask of the same shape (see :func:`ct_body_mask`)."""

    def __init__(self, threshold_hu: float = -500.0, slice_axis: int = -1) -> None:
        self.threshold_hu = threshold_hu
        self.slice_axis = slice_axis

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        data = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
        mask = np.stack([ct_body_mask(c, self.threshold_hu, self.slice_axis) for c in data]).astype(np.uint8)
        return torch.as_tensor(mask, device=img.device) if isinstance(img, torch.Tensor) else mask


class BodyMaskd(MapTransform):
    """Dictionary wrapper: writes the body mask of ``keys`` (CT in HU) under ``mask_key``."""

    backend = [torch.Tensor, np.ndarray]

    def __init__(
        self,
        keys: KeysCollection,
        mask_key: str = "mask",
        threshold_hu: float = -500.0,
        slice_axis: int = -1,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.mask_key = mask_key
        self.transform = BodyMask(threshold_hu, slice_axis)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[self.mask_key] = self.transform(d[key])
        return d


BodyMaskD = BodyMaskDict = BodyMaskd
