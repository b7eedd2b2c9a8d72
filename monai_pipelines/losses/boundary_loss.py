"""Kervadec et al.'s boundary loss: softmax probabilities weighted by each class's signed distance map.

MONAI lacks it (its HausdorffDTLoss penalises squared distance errors, not the signed-distance surface integral of
Kervadec, MIDL 2019). Distance maps are exact EDTs on the CPU: for 2D labels a compiled kernel where numba is
installed (:mod:`~monai_pipelines.losses.signed_distance_kernel`, the same maps about 3x faster), else scipy's, one
call per present class and sample; they are scaled by the largest spatial size so the term stays in [-1, 1] and its
weight is comparable to Dice/focal.
"""

from __future__ import annotations

import functools
import importlib.util

import numpy as np
import torch
from scipy.ndimage import distance_transform_edt
from torch.nn.modules.loss import _Loss

__all__ = ["BoundaryLoss", "signed_distance_maps"]

_BACKENDS = ("auto", "numba", "scipy")
#: the compiled kernel's squared distances are int32: height + width must stay below sqrt(2**31)
_KERNEL_MAX_EXTENT = 46_000


@functools.cache
def _numba_installed() -> bool:
    return importlib.util.find_spec("numba") is not None


def signed_distance_maps(
    label: np.ndarray, num_classes: int, normalise: bool = True, include_background: bool = True,
    backend: str = "auto",
) -> np.ndarray:
    """(B, K, *spatial) signed distances to each class boundary: negative inside, positive outside, 0 if absent.

    Args:
        label: integer class map, (B, *spatial) or (B, 1, *spatial).
        include_background: False leaves class 0's maps at 0 (a :class:`BoundaryLoss` without the background does
            not read them: a quarter of the work with 4 classes).
        backend: "auto" (numba's compiled kernel for 2D labels where numba is installed, else scipy), "numba" or
            "scipy"; both give the same maps.
    """
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}.")
    label = np.asarray(label)
    if label.ndim >= 3 and label.shape[1] == 1:
        label = label[:, 0]
    scale = float(max(label.shape[1:])) if normalise else 1.0
    fits_kernel = label.ndim == 3 and sum(label.shape[1:]) < _KERNEL_MAX_EXTENT
    if backend == "numba" or (backend == "auto" and fits_kernel and _numba_installed()):
        if not fits_kernel:
            raise ValueError(f"the numba backend takes 2D labels (B, H, W) with H + W < {_KERNEL_MAX_EXTENT}, got "
                             f"spatial shape {label.shape[1:]}.")
        from monai_pipelines.losses.signed_distance_kernel import compiled_signed_distance_maps_2d

        return compiled_signed_distance_maps_2d(label, num_classes, 0 if include_background else 1, scale)
    out = np.zeros((label.shape[0], num_classes, *label.shape[1:]), dtype=np.float32)
    for b in range(label.shape[0]):
        for k in range(0 if include_background else 1, num_classes):
            pos = label[b] == k
            if pos.any() and not pos.all():
                out[b, k] = (distance_transform_edt(~pos) - (distance_transform_edt(pos) - 1.0) * pos) / scale
    return out


class BoundaryLoss(_Loss):
    """mean over pixels and classes of softmax(pred) * signed distance of the target's class regions.

    Args:
        include_background: include class 0 in the sum (Kervadec uses foreground classes only).
        softmax: apply softmax to ``input`` (set False if it already holds probabilities).
    """

    def __init__(self, include_background: bool = False, softmax: bool = True) -> None:
        super().__init__()
        self.include_background = include_background
        self.softmax = softmax

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, dist_maps: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``input`` (B, K, H, W) logits; ``target`` (B, 1, H, W) class indices; optional precomputed maps."""
        probs = torch.softmax(input.float(), dim=1) if self.softmax else input.float()
        if dist_maps is None:
            labels = target.detach().cpu().numpy().astype(np.int64)
            dist_maps = torch.from_numpy(signed_distance_maps(labels, input.shape[1],
                                                              include_background=self.include_background))
        dist_maps = dist_maps.to(device=probs.device, dtype=probs.dtype)
        if not self.include_background:
            probs, dist_maps = probs[:, 1:], dist_maps[:, 1:]
        return (probs * dist_maps).mean()
