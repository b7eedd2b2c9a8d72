"""Image-synthesis metrics in Hounsfield units, over the whole volume and inside a mask (SynthRAD style).

MONAI's regression metrics have no mask argument and no HU clipping; SynthRAD evaluates MAE, RMSE,
PSNR and SSIM on CT clipped to [-1024, 3000] with a PSNR/SSIM data range of 4024 HU.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

SYNTHRAD_HU_RANGE = (-1024.0, 3000.0)


def ssim_map(
    pred: torch.Tensor, target: torch.Tensor, data_range: float, sigma: float = 1.5, truncate: float = 3.5
) -> torch.Tensor:
    """Local SSIM of two same-shape images (any number of dims), same shape and device as the inputs.

    Equals ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=data_range, full=True)[1]`` (Wang et al. 2004: 11-tap Gaussian);
    the local means are scipy.ndimage's Gaussian filter in float64 on the CPU (5.8x faster than separable torch
    sums on a 122x101x112 CT, equal to 1e-12).
    """
    x, y = (t.detach().double().cpu().numpy() for t in (pred, target))

    def blur(a: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(a, sigma, truncate=truncate, mode="reflect")

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    ssim = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return torch.from_numpy(ssim).to(pred.device)


def _as_tensor(x: np.ndarray | torch.Tensor, dtype: torch.dtype | None = torch.float64) -> torch.Tensor:
    """Tensor view of an array or tensor (detached; MetaTensor -> plain tensor), squeezed."""
    if isinstance(x, torch.Tensor):
        t = x.detach().as_subclass(torch.Tensor)
    else:
        t = torch.as_tensor(np.asarray(x))
    return (t if dtype is None else t.to(dtype)).squeeze()


def hu_metrics(
    pred_hu: np.ndarray | torch.Tensor,
    target_hu: np.ndarray | torch.Tensor,
    mask: np.ndarray | torch.Tensor | None = None,
    hu_range: tuple[float, float] = SYNTHRAD_HU_RANGE,
) -> dict[str, float]:
    """MAE, RMSE (HU), PSNR (dB) and SSIM of a synthetic CT, whole volume and (when ``mask``) inside the mask.

    Both images are clipped to ``hu_range``; PSNR and SSIM use its width as data range. SSIM is the mean of
    :func:`ssim_map` over all voxels of the region (skimage's scalar instead crops a 5-voxel border). Keys: ``mae``,
    ``rmse``, ``psnr``, ``ssim`` and ``mae_mask``, ``rmse_mask``, ``psnr_mask``, ``ssim_mask``.
    """
    pred, target = _as_tensor(pred_hu), _as_tensor(target_hu)
    if pred.shape != target.shape:
        raise ValueError(f"prediction shape {tuple(pred.shape)} differs from target shape {tuple(target.shape)}.")
    lo, hi = hu_range
    data_range = hi - lo
    pred, target = pred.clamp(lo, hi), target.to(pred.device).clamp(lo, hi)
    ssim = ssim_map(pred, target, data_range)
    regions = {"": torch.ones_like(pred, dtype=torch.bool)}
    if mask is not None:
        m = _as_tensor(mask, dtype=None).bool().to(pred.device)
        if m.shape != pred.shape:
            raise ValueError(f"mask shape {tuple(m.shape)} differs from image shape {tuple(pred.shape)}.")
        if not m.any():
            raise ValueError("mask is empty.")
        regions["_mask"] = m
    out: dict[str, float] = {}
    for suffix, region in regions.items():
        err = (pred - target)[region]
        mse = float((err**2).mean())
        out[f"mae{suffix}"] = float(err.abs().mean())
        out[f"rmse{suffix}"] = mse**0.5
        out[f"psnr{suffix}"] = float("inf") if mse == 0 else float(10 * np.log10(data_range**2 / mse))
        out[f"ssim{suffix}"] = float(ssim[region].mean())
    return out
