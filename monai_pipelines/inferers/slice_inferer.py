"""Slice-by-slice 2D inference over 3D volumes with slices resized to the network's size and back.

MONAI's ``SliceInferer`` does the slicing, batching and restacking; this adds what a fixed-size 2D network such as
pix2pix (trained on S x S slices) needs: each whole slice is resized to S x S, passed through the network, and the
output resized back to the slice's own (possibly non-square) size, so the volume keeps its shape and geometry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from monai.inferers import SliceInferer


class ResizedSliceInferer(SliceInferer):
    """``SliceInferer`` over whole slices along ``spatial_dim`` (2: the last axis, axial in NIfTI), resized to S x S.

    Args:
        spatial_size: S, the network's input size; None passes slices at their own size.
        spatial_dim: 0, 1 or 2, the axis sliced.
        sw_batch_size: slices per network call.
        mode: interpolation for both resizes ("bilinear" or "area"/"nearest"...).
    """

    def __init__(
        self, spatial_size: int | None = 256, spatial_dim: int = 2, sw_batch_size: int = 8, mode: str = "bilinear",
        **kwargs: Any,
    ) -> None:
        super().__init__(spatial_dim=spatial_dim, roi_size=(-1, -1), sw_batch_size=sw_batch_size, **kwargs)
        self.spatial_size = None if spatial_size is None else int(spatial_size)
        self.interp_mode = mode

    def _resize(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if tuple(x.shape[-2:]) == tuple(size):
            return x
        align = False if self.interp_mode in ("bilinear", "bicubic") else None
        return F.interpolate(x, size=size, mode=self.interp_mode, align_corners=align)

    def __call__(self, inputs: torch.Tensor, network: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if inputs.ndim != 5:
            raise ValueError(f"expected a (B, C, X, Y, Z) volume batch, got shape {tuple(inputs.shape)}.")
        # whole slices: the roi is the volume's extent in the two in-plane axes
        self.roi_size = tuple(s for i, s in enumerate(inputs.shape[2:]) if i != self.spatial_dim)
        self.orig_roi_size = self.roi_size
        if self.spatial_size is None:
            return super().__call__(inputs, network, *args, **kwargs)

        def resized(x: torch.Tensor, *a: Any, **kw: Any) -> torch.Tensor:
            size = tuple(x.shape[-2:])
            out = network(self._resize(torch.as_tensor(x), (self.spatial_size, self.spatial_size)), *a, **kw)
            return self._resize(out, size)

        return super().__call__(inputs, resized, *args, **kwargs)
