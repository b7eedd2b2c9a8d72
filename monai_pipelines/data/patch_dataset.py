"""Patches cropped from pre-loaded tiles at the centres a sampler yields (e.g. PixelBalancedSampler).

MONAI's patch datasets (``PatchDataset``, ``GridPatchDataset``) choose their own locations; here the DataLoader's
sampler chooses ``(tile, row, col)``, so class balancing is global over tiles rather than per image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from monai_pipelines.data.pixel_balanced_sampler import crop_window
from monai_pipelines.utils.enums import Keys
from monai_pipelines.utils.progress import show_progress

__all__ = ["BalancedPatchDataset"]


class BalancedPatchDataset(Dataset):
    """Tiles preprocessed once (cached in memory); ``dataset[(tile, row, col)]`` is the patch around that centre.

    Args:
        data: datalist items.
        patch_size: patch side(s); tiles smaller than that are returned whole.
        preprocessing: applied once per item (loading, band selection, normalisation); arrays channel-first.
        transform: applied to every patch (augmentation, type conversion).
        keys: the spatial entries to crop.
    """

    def __init__(
        self,
        data: Sequence[dict],
        patch_size: int | Sequence[int],
        preprocessing: Callable | None = None,
        transform: Callable | None = None,
        keys: Sequence[str] = (Keys.IMAGE, Keys.LABEL),
    ) -> None:
        from tqdm.auto import tqdm

        loading = tqdm(data, desc="load tiles", unit="tile", disable=not show_progress())
        self.items = [preprocessing(dict(item)) if preprocessing is not None else dict(item) for item in loading]
        self.patch_size = tuple(np.broadcast_to(patch_size, (2,)).tolist())
        self.transform = transform
        self.keys = [str(k) for k in keys]

    @property
    def labels(self) -> list[np.ndarray]:
        """Each tile's (H, W) class map, for the sampler."""
        return [np.asarray(item[Keys.LABEL]).reshape(np.asarray(item[Keys.LABEL]).shape[-2:]) for item in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int | Sequence[int]) -> dict[str, Any]:
        if isinstance(index, (int, np.integer)):
            tile = int(index)
            shape = np.asarray(self.items[tile][self.keys[0]]).shape[-2:]
            centre = (shape[0] // 2, shape[1] // 2)
        else:
            tile, centre = int(index[0]), (int(index[1]), int(index[2]))
        item = dict(self.items[tile])
        window = crop_window(np.asarray(item[self.keys[0]]).shape[-2:], centre, self.patch_size)
        for key in self.keys:
            if key in item:
                item[key] = item[key][(...,) + window]
        # not ``if self.transform``: a Compose's truth value is its len(), which builds a flattened Compose, and
        # that re-seeds every random transform in it from MONAI's global seed (the same draws for every patch)
        return self.transform(item) if self.transform is not None else item
