"""Load a volume with its grid and bring another volume onto that grid (world coordinates, MONAI ResampleToMatch).

Stand-alone commands compare files that may come from different grids (a prediction on the MR grid, the true CT
on its own); they resample onto one reference grid and say so, instead of failing on a shape mismatch.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import ResampleToMatch

from monai_pipelines.transforms.robust_load import RobustLoadImage

__all__ = ["load_volume", "grid_mismatch", "same_grid", "resample_to", "describe_grid"]


def load_volume(path: str | os.PathLike) -> MetaTensor:
    """(1, X, Y, Z) float32 MetaTensor with the file's affine; one-line error naming the file when unusable."""
    volume = RobustLoadImage(ensure_channel_first=True, num_channels=1)(str(path))
    if volume.ndim != 4 or volume.shape[0] != 1:
        raise ValueError(f"{path}: expected a single 3D volume, got shape {tuple(volume.shape)}.")
    return volume.float()


def grid_mismatch(a: MetaTensor, b: MetaTensor, atol: float = 1e-3) -> str | None:
    """How two channel-first volumes' grids differ (spatial shape, affine beyond ``atol`` mm), or None."""
    if tuple(a.shape[1:]) != tuple(b.shape[1:]):
        return f"spatial shapes {tuple(a.shape[1:])} and {tuple(b.shape[1:])} differ"
    fa, fb = (np.asarray(torch.as_tensor(v.affine).cpu(), dtype=float) for v in (a, b))
    if not np.allclose(fa, fb, atol=atol):
        return f"voxel-to-world affines differ by up to {np.abs(fa - fb).max():.3g} mm (tolerance {atol} mm)"
    return None


def same_grid(a: MetaTensor, b: MetaTensor, atol: float = 1e-3) -> bool:
    """Same spatial shape and (within ``atol`` mm) the same affine."""
    return grid_mismatch(a, b, atol) is None


def resample_to(
    volume: MetaTensor, reference: MetaTensor, mode: str = "bilinear", fill: float = 0.0
) -> tuple[MetaTensor, float]:
    """``volume`` on ``reference``'s grid (outside its field: ``fill``) and the fraction of the grid it covers."""
    meta = {k: v for k, v in volume.meta.items() if k != "affine"}
    shifted = MetaTensor(volume.as_tensor() - fill, affine=volume.affine, meta=dict(meta))
    out = ResampleToMatch(mode=mode, padding_mode="zeros")(shifted, reference).as_tensor() + fill
    ones = MetaTensor(torch.ones_like(volume.as_tensor()), affine=volume.affine, meta=dict(meta))
    covered = ResampleToMatch(mode="nearest", padding_mode="zeros")(ones, reference)
    out = MetaTensor(out, affine=reference.affine, meta={k: v for k, v in reference.meta.items() if k != "affine"})
    return out, float(covered.as_tensor().mean())


def describe_grid(volume: MetaTensor) -> str:
    """``"256x256x94 @ 1.00x1.00x2.50 mm"``."""
    spacing = np.linalg.norm(np.asarray(volume.affine, dtype=float)[:3, :3], axis=0)
    return "x".join(str(int(s)) for s in volume.shape[1:]) + " @ " + "x".join(f"{s:.2f}" for s in spacing) + " mm"
