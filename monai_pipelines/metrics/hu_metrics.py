"""Image-synthesis metrics in Hounsfield units, over the whole volume and inside a mask (SynthRAD style).

MONAI's regression metrics have no mask argument and no HU clipping; SynthRAD evaluates MAE, RMSE,
PSNR and SSIM on CT clipped to [-1024, 3000] with a PSNR/SSIM data range of 4024 HU.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

SYNTHRAD_HU_RANGE = (-1024.0, 3000.0)


def _gaussian_window(spatial_dims: int, size: int = 7, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    window = g
    for _ in range(spatial_dims - 1):
        window = window[..., None] * g
    return window[None, None]


def ssim_map(pred: torch.Tensor, target: torch.Tensor, data_range: float, window_size: int = 7) -> torch.Tensor:
    """Local SSIM (Gaussian window, sigma 1.5) of two same-shape 2D/3D images; 'same' padding keeps the shape."""
    spatial_dims = pred.ndim
    conv = F.conv3d if spatial_dims == 3 else F.conv2d
    window = _gaussian_window(spatial_dims, window_size).to(pred.device)
    x, y = pred[None, None].double(), target[None, None].double()
    pad = window_size // 2

    def filt(t: torch.Tensor) -> torch.Tensor:
        return conv(F.pad(t, [pad] * (2 * spatial_dims), mode="replicate"), window)

    mu_x, mu_y = filt(x), filt(y)
    var_x = filt(x * x) - mu_x**2
    var_y = filt(y * y) - mu_y**2
    cov = filt(x * y) - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    ssim = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim[0, 0]


def hu_metrics(
    pred_hu: np.ndarray | torch.Tensor,
    target_hu: np.ndarray | torch.Tensor,
    mask: np.ndarray | torch.Tensor | None = None,
    hu_range: tuple[float, float] = SYNTHRAD_HU_RANGE,
) -> dict[str, float]:
    """MAE, RMSE (HU), PSNR (dB) and SSIM of a synthetic CT, whole volume and (when ``mask``) inside the mask.

    Both images are clipped to ``hu_range``; PSNR and SSIM use its width as data range. Keys: ``mae``,
    ``rmse``, ``psnr``, ``ssim`` and ``mae_mask``, ``rmse_mask``, ``psnr_mask``, ``ssim_mask``.
    """
    pred = torch.as_tensor(np.asarray(pred_hu), dtype=torch.float64).squeeze()
    target = torch.as_tensor(np.asarray(target_hu), dtype=torch.float64).squeeze()
    if pred.shape != target.shape:
        raise ValueError(f"prediction shape {tuple(pred.shape)} differs from target shape {tuple(target.shape)}.")
    lo, hi = hu_range
    data_range = hi - lo
    pred, target = pred.clamp(lo, hi), target.clamp(lo, hi)
    ssim = ssim_map(pred, target, data_range)
    regions = {"": torch.ones_like(pred, dtype=torch.bool)}
    if mask is not None:
        m = torch.as_tensor(np.asarray(mask)).squeeze().bool()
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
        out[f"psnr{suffix}"] = float("inf") if mse == 0 else 10 * np.log10(data_range**2 / mse)
        out[f"ssim{suffix}"] = float(ssim[region].mean())
    return out
