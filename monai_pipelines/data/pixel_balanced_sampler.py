"""Sampler of (tile, patch centre) draws whose patches contain the classes in target pixel proportions.

MONAI's ``RandCropByLabelClasses`` balances only the class of the patch *centre*, per image; the pixels of a patch
around an ice centre are partly debris or background, so the patch contents drift from the ratios. Here centre
classes are drawn with weights ``w`` solved (non-negative least squares, rows summing to one) so that
``w @ M`` -- M[c, k] the mean fraction of class k in a patch centred on a class-c pixel, estimated from pilot
patches -- matches the target pixel proportions; a centre is then a uniform pixel of that class over all tiles.
Targets outside what the data allows give the closest attainable mix (``expected_proportions``); classes absent
from the data are dropped and the remaining targets renormalised, with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
from scipy.optimize import nnls
from torch.utils.data import Sampler

__all__ = ["PixelBalancedSampler", "crop_window", "GLACIER_TARGETS"]

logger = logging.getLogger(__name__)

# background, clean ice, debris, lake
GLACIER_TARGETS = (0.10, 0.35, 0.40, 0.15)


def crop_window(shape: Sequence[int], centre: Sequence[int], patch_size: Sequence[int]) -> tuple[slice, ...]:
    """Slices of a patch around ``centre``, shifted to lie inside ``shape`` (whole axis when the patch is larger)."""
    out = []
    for n, c, p in zip(shape, centre, patch_size):
        start = int(np.clip(int(c) - p // 2, 0, max(n - p, 0)))
        out.append(slice(start, start + min(p, n)))
    return tuple(out)


class PixelBalancedSampler(Sampler):
    """Yields ``(tile_index, row, col)`` patch centres, ``num_samples`` per epoch, drawn i.i.d. from its own RNG.

    Args:
        labels: one integer class map (H, W) (or (1, H, W)) per tile.
        targets: target pixel proportion per class (sequence indexed by class, or mapping class -> proportion).
        patch_size: patch side(s) in pixels; None balances the centre pixels only.
        max_pixels_per_class_per_tile: subsample candidate centres to bound memory on large datasets.
        pilot_patches: patches per class used to estimate M.
    """

    def __init__(
        self,
        labels: Sequence[np.ndarray],
        targets: Sequence[float] | Mapping[int, float] = GLACIER_TARGETS,
        patch_size: int | Sequence[int] | None = 64,
        num_samples: int = 1000,
        seed: int = 0,
        max_pixels_per_class_per_tile: int | None = 20000,
        pilot_patches: int = 256,
    ) -> None:
        if not len(labels):
            raise ValueError("PixelBalancedSampler needs at least one label map.")
        self.labels = [np.asarray(lab).reshape(np.asarray(lab).shape[-2:]).astype(np.int16) for lab in labels]
        if isinstance(targets, Mapping):
            size = max(int(k) for k in targets) + 1
            targets = [float(targets.get(k, 0.0)) for k in range(size)]
        self.targets = np.asarray(targets, dtype=float)
        if (self.targets < 0).any() or self.targets.sum() <= 0:
            raise ValueError(f"targets must be non-negative and not all zero, got {list(self.targets)}.")
        self.targets = self.targets / self.targets.sum()
        self.num_classes = len(self.targets)
        self.patch_size = None if patch_size is None else tuple(np.broadcast_to(patch_size, (2,)).tolist())
        self.num_samples = int(num_samples)
        self.rng = np.random.default_rng(seed)
        self._candidates = self._collect(max_pixels_per_class_per_tile)
        present = np.array([len(c) > 0 for c in self._candidates])
        if not present.any():
            raise ValueError(f"no label map contains any of the classes 0..{self.num_classes - 1}.")
        wanted = self.targets.copy()
        if (wanted[~present] > 0).any():
            logger.warning(f"classes {np.flatnonzero(~present & (wanted > 0)).tolist()} are absent from the labels; "
                           "their target share is spread over the others.")
            wanted[~present] = 0
            wanted /= wanted.sum()
        self.mixing = self._estimate_mixing(present, pilot_patches)
        self.class_weights = self._solve(wanted, present)
        self.expected_proportions = self.class_weights @ self.mixing

    def _collect(self, cap: int | None) -> list[np.ndarray]:
        """Per class, an (n, 3) array of (tile, row, col) candidate centres."""
        per_class: list[list[np.ndarray]] = [[] for _ in range(self.num_classes)]
        rng = np.random.default_rng(12345)
        for t, lab in enumerate(self.labels):
            for k in range(self.num_classes):
                rows, cols = np.nonzero(lab == k)
                if cap is not None and len(rows) > cap:
                    keep = rng.choice(len(rows), cap, replace=False)
                    rows, cols = rows[keep], cols[keep]
                if len(rows):
                    per_class[k].append(np.stack([np.full_like(rows, t), rows, cols], 1))
        return [np.concatenate(c) if c else np.zeros((0, 3), dtype=np.int64) for c in per_class]

    def composition(self, tile: int, row: int, col: int) -> np.ndarray:
        """Class pixel fractions of the patch centred at (row, col) of ``tile``."""
        lab = self.labels[tile]
        patch = lab[crop_window(lab.shape, (row, col), self.patch_size)] if self.patch_size else lab[row, col]
        counts = np.bincount(np.ravel(patch), minlength=self.num_classes)[: self.num_classes]
        return counts / max(counts.sum(), 1)

    def _estimate_mixing(self, present: np.ndarray, pilot: int) -> np.ndarray:
        mixing = np.eye(self.num_classes)
        if self.patch_size is None:
            return mixing
        rng = np.random.default_rng(54321)
        for k in np.flatnonzero(present):
            cand = self._candidates[k]
            picks = cand[rng.integers(0, len(cand), size=pilot)]
            mixing[k] = np.mean([self.composition(*p) for p in picks], axis=0)
        return mixing

    def _solve(self, wanted: np.ndarray, present: np.ndarray) -> np.ndarray:
        idx = np.flatnonzero(present)
        lam = 10.0
        a = np.vstack([self.mixing[idx].T, lam * np.ones(len(idx))])
        b = np.concatenate([wanted, [lam]])
        w_present, _ = nnls(a, b)
        weights = np.zeros(self.num_classes)
        weights[idx] = w_present / w_present.sum()
        return weights

    def draw(self, n: int) -> np.ndarray:
        """``n`` draws as an (n, 3) array of (tile, row, col)."""
        classes = self.rng.choice(self.num_classes, size=n, p=self.class_weights)
        out = np.empty((n, 3), dtype=np.int64)
        for k in np.unique(classes):
            sel = classes == k
            cand = self._candidates[k]
            out[sel] = cand[self.rng.integers(0, len(cand), size=int(sel.sum()))]
        return out

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        for t, r, c in self.draw(self.num_samples):
            yield int(t), int(r), int(c)

    def __len__(self) -> int:
        return self.num_samples

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
