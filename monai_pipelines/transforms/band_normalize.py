"""Per-band z-score normalisation with statistics computed once from the training tiles.

MONAI's ``NormalizeIntensity`` computes statistics per image (or takes fixed lists); multispectral tiles need
dataset-level per-band statistics so that a band means the same thing in every tile. ``BandNormalize.fit``
computes them (streaming, float64 sums) and the transform holds and applies them; ``state_dict`` saves them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform

from monai_pipelines.utils.enums import Keys

__all__ = ["BandNormalize", "BandNormalized", "BandNormalizeD", "BandNormalizeDict"]


class BandNormalize(Transform):
    """(x - mean[c]) / std[c] for each band c of a (C, H, W) array; std floored at ``eps``."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], eps: float = 1e-6) -> None:
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.maximum(np.asarray(std, dtype=np.float32), eps)
        if self.mean.shape != self.std.shape or self.mean.ndim != 1:
            raise ValueError(f"mean and std must be equal-length 1-D lists, got {self.mean.shape} and {self.std.shape}.")

    @classmethod
    def fit(cls, images: Iterable[np.ndarray | torch.Tensor], eps: float = 1e-6) -> BandNormalize:
        """Statistics over all pixels of all (C, H, W) ``images`` (e.g. the training fold's tiles)."""
        total = sq = count = None
        for img in images:
            a = np.asarray(img, dtype=np.float64).reshape(len(img), -1)
            s, q = a.sum(1), (a * a).sum(1)
            total, sq = (s, q) if total is None else (total + s, sq + q)
            count = a.shape[1] + (count or 0)
        if total is None:
            raise ValueError("BandNormalize.fit needs at least one image.")
        mean = total / count
        std = np.sqrt(np.maximum(sq / count - mean**2, 0.0))
        return cls(mean.tolist(), std.tolist(), eps)

    @classmethod
    def fit_datalist(cls, datalist: Sequence[dict], loader: Callable, key: str = Keys.IMAGE) -> BandNormalize:
        """Statistics of ``loader(item)[key]`` over a datalist (e.g. LoadGeoTIFFd on the training items)."""
        return cls.fit(loader(dict(item))[key] for item in datalist)

    def __call__(self, img: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        if img.shape[0] != len(self.mean):
            raise ValueError(f"image has {img.shape[0]} bands, the statistics {len(self.mean)}.")
        shape = (-1,) + (1,) * (img.ndim - 1)
        if isinstance(img, torch.Tensor):
            mean = torch.as_tensor(self.mean, device=img.device).reshape(shape)
            std = torch.as_tensor(self.std, device=img.device).reshape(shape)
            return (img.float() - mean) / std
        return ((np.asarray(img, dtype=np.float32) - self.mean.reshape(shape)) / self.std.reshape(shape)).astype(
            np.float32
        )

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.mean = np.asarray(state["mean"], dtype=np.float32)
        self.std = np.asarray(state["std"], dtype=np.float32)


class BandNormalized(MapTransform):
    """Dictionary wrapper of :class:`BandNormalize` (give ``normalizer`` or ``mean`` and ``std``)."""

    def __init__(
        self,
        keys: KeysCollection = Keys.IMAGE,
        normalizer: BandNormalize | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if normalizer is None:
            if mean is None or std is None:
                raise ValueError("BandNormalized needs a normalizer or both mean and std.")
            normalizer = BandNormalize(mean, std)
        self.normalizer = normalizer

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.normalizer(d[key])
        return d


BandNormalizeD = BandNormalizeDict = BandNormalized
