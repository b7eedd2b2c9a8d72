"""Context-free baseline for image synthesis: each input intensity maps to the mean target seen with it.

Fitted on the training split, it predicts the "tissue-mean CT" of every MRI intensity: what a
voxel-wise intensity mapping can achieve. A network that beats it has learned to use spatial context
(bone and air are both dark on T1, so no intensity mapping separates them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np
import torch


class IntensityLookup:
    """Binned mean of the target per input intensity, with linear interpolation between bins.

    Args:
        bins: number of equal-width input bins between the fitted input minimum and maximum.
    """

    def __init__(self, bins: int = 128):
        self.bins = bins
        self.edges: np.ndarray | None = None
        self.means: np.ndarray | None = None

    def fit(self, pairs: Iterable[tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor]]) -> IntensityLookup:
        """Fit on (input, target) image pairs of equal shape."""
        inputs, targets = [], []
        for x, y in pairs:
            x, y = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
            if x.shape != y.shape:
                raise ValueError(f"input and target sizes differ: {x.size} vs {y.size} voxels.")
            inputs.append(x)
            targets.append(y)
        if not inputs:
            raise ValueError("IntensityLookup.fit needs at least one image pair.")
        x, y = np.concatenate(inputs), np.concatenate(targets)
        self.edges = np.linspace(x.min(), x.max(), self.bins + 1)
        index = np.clip(np.digitize(x, self.edges) - 1, 0, self.bins - 1)
        counts = np.bincount(index, minlength=self.bins)
        sums = np.bincount(index, weights=y, minlength=self.bins)
        filled = counts > 0
        centres = 0.5 * (self.edges[:-1] + self.edges[1:])
        # empty bins take the value interpolated from their filled neighbours
        self.means = np.interp(centres, centres[filled], sums[filled] / counts[filled])
        return self

    def __call__(self, image: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        if self.edges is None or self.means is None:
            raise RuntimeError("IntensityLookup must be fitted before use.")
        centres = 0.5 * (self.edges[:-1] + self.edges[1:])
        values = np.asarray(image.detach().cpu() if isinstance(image, torch.Tensor) else image, dtype=np.float64)
        out = np.interp(values, centres, self.means).astype(np.float32)
        if isinstance(image, torch.Tensor):
            return torch.as_tensor(out, device=image.device)
        return out

    @classmethod
    def fit_datalist(
        cls,
        datalist: list[Mapping],
        transform: Callable[[Mapping], Mapping],
        input_key: str = "image",
        target_key: str = "label",
        bins: int = 128,
    ) -> IntensityLookup:
        """Fit on a datalist after ``transform`` (the deterministic preprocessing the network sees)."""

        def pairs():
            for item in datalist:
                data = transform(dict(item))
                yield data[input_key], data[target_key]

        return cls(bins).fit(pairs())
