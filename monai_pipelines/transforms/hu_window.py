"""HU windowing to the network range, and its exact inverse back to Hounsfield units.

Ours because MONAI's ScaleIntensityRange has no inverse: predictions must go back to HU before metrics and writing.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms import MapTransform, Transform

__all__ = [
    "HUWindow",
    "HUWindowD",
    "HUWindowDict",
    "HUWindowInverse",
    "HUWindowInverseD",
    "HUWindowInverseDict",
    "HUWindowInversed",
    "HUWindowd",
    "hu_to_window",
    "window_to_hu",
]


def _as_float(x: NdarrayOrTensor) -> NdarrayOrTensor:
    """Floating-point view of `x` (float32 for integer input, float dtypes kept)."""
    if isinstance(x, torch.Tensor):
        return x if torch.is_floating_point(x) else x.to(torch.float32)
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float32)


def _clip(x: NdarrayOrTensor, lo: float, hi: float) -> NdarrayOrTensor:
    return torch.clamp(x, lo, hi) if isinstance(x, torch.Tensor) else np.clip(x, lo, hi)


def _check_range(hu_min: float, hu_max: float, out_min: float, out_max: float) -> None:
    if not hu_max > hu_min:
        raise ValueError(f"HU window must have hu_max > hu_min, got [{hu_min}, {hu_max}].")
    if out_max == out_min:
        raise ValueError(f"network range must not be empty, got [{out_min}, {out_max}].")


def hu_to_window(
    x: NdarrayOrTensor,
    hu_min: float = -1024.0,
    hu_max: float = 3071.0,
    out_min: float = -1.0,
    out_max: float = 1.0,
    clip: bool = True,
) -> NdarrayOrTensor:
    """Map HU values linearly from [hu_min, hu_max] to [out_min, out_max], clipping to the window first."""
    _check_range(hu_min, hu_max, out_min, out_max)
    x = _as_float(x)
    if clip:
        x = _clip(x, hu_min, hu_max)
    return (x - hu_min) * ((out_max - out_min) / (hu_max - hu_min)) + out_min


def window_to_hu(
    x: NdarrayOrTensor,
    hu_min: float = -1024.0,
    hu_max: float = 3071.0,
    out_min: float = -1.0,
    out_max: float = 1.0,
    clip: bool = False,
) -> NdarrayOrTensor:
    """Exact inverse of :func:`hu_to_window`: network range back to HU (optionally clipped to the HU window)."""
    _check_range(hu_min, hu_max, out_min, out_max)
    x = _as_float(x)
    y = (x - out_min) * ((hu_max - hu_min) / (out_max - out_min)) + hu_min
    return _clip(y, hu_min, hu_max) if clip else y


class HUWindow(Transform):
    """Clip CT to an HU window and scale it to the network range; numpy or torch in, same type out (meta kept)."""

    backend = [torch.Tensor, np.ndarray]

    def __init__(
        self,
        hu_min: float = -1024.0,
        hu_max: float = 3071.0,
        out_min: float = -1.0,
        out_max: float = 1.0,
        clip: bool = True,
    ) -> None:
        _check_range(hu_min, hu_max, out_min, out_max)
        self.hu_min, self.hu_max, self.out_min, self.out_max, self.clip = hu_min, hu_max, out_min, out_max, clip

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        return hu_to_window(img, self.hu_min, self.hu_max, self.out_min, self.out_max, self.clip)

    def inverse_array(self, img: NdarrayOrTensor, clip: bool = False) -> NdarrayOrTensor:
        """Map network-range values back to HU (exact inverse of ``__call__`` on the clipped input)."""
        return window_to_hu(img, self.hu_min, self.hu_max, self.out_min, self.out_max, clip)


class HUWindowInverse(Transform):
    """Map network output back to HU, for postprocessing; `clip=True` keeps predictions inside the HU window."""

    backend = HUWindow.backend

    def __init__(
        self,
        hu_min: float = -1024.0,
        hu_max: float = 3071.0,
        out_min: float = -1.0,
        out_max: float = 1.0,
        clip: bool = True,
    ) -> None:
        _check_range(hu_min, hu_max, out_min, out_max)
        self.hu_min, self.hu_max, self.out_min, self.out_max, self.clip = hu_min, hu_max, out_min, out_max, clip

    def __call__(self, img: NdarrayOrTensor) -> NdarrayOrTensor:
        return window_to_hu(img, self.hu_min, self.hu_max, self.out_min, self.out_max, self.clip)


class HUWindowd(MapTransform):
    """Dictionary version of :class:`HUWindow`."""

    backend = HUWindow.backend

    def __init__(
        self,
        keys: KeysCollection,
        hu_min: float = -1024.0,
        hu_max: float = 3071.0,
        out_min: float = -1.0,
        out_max: float = 1.0,
        clip: bool = True,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.window = HUWindow(hu_min, hu_max, out_min, out_max, clip)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.window(d[key])
        return d

    def inverse_array(self, img: NdarrayOrTensor, clip: bool = False) -> NdarrayOrTensor:
        """Map network-range values back to HU."""
        return self.window.inverse_array(img, clip)


class HUWindowInversed(MapTransform):
    """Dictionary version of :class:`HUWindowInverse` (e.g. on ``pred`` in a postprocessing chain)."""

    backend = HUWindow.backend

    def __init__(
        self,
        keys: KeysCollection,
        hu_min: float = -1024.0,
        hu_max: float = 3071.0,
        out_min: float = -1.0,
        out_max: float = 1.0,
        clip: bool = True,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.inverse = HUWindowInverse(hu_min, hu_max, out_min, out_max, clip)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.inverse(d[key])
        return d


HUWindowD = HUWindowDict = HUWindowd
HUWindowInverseD = HUWindowInverseDict = HUWindowInversed
