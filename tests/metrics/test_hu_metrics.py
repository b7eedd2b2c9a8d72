"""hu_metrics / ssim_map: SSIM equal to skimage's Gaussian SSIM, MAE/RMSE/PSNR by hand, clipping, masks, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.metrics import structural_similarity

from monai_pipelines.metrics.hu_metrics import SYNTHRAD_HU_RANGE, hu_metrics, ssim_map

DATA_RANGE = SYNTHRAD_HU_RANGE[1] - SYNTHRAD_HU_RANGE[0]


def _smooth_pair(shape, seed=0, noise=300.0):
    """A smooth 'CT' in HU and a degraded prediction, both inside the SynthRAD range."""
    rng = np.random.default_rng(seed)
    target = ndimage.gaussian_filter(rng.normal(size=shape), 2) * 4000 + 200
    pred = target + ndimage.gaussian_filter(rng.normal(size=shape), 1) * noise + 20
    return np.clip(pred, -1000, 2900), np.clip(target, -1000, 2900)


def _skimage_ssim(pred, target, full=False):
    return structural_similarity(
        pred, target, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=DATA_RANGE, full=full
    )


@pytest.mark.parametrize("shape", [(24, 20, 22), (40, 36)])
def test_ssim_map_equals_skimage_gaussian_ssim(shape):
    pred, target = _smooth_pair(shape)
    mssim, full = _skimage_ssim(pred, target, full=True)
    ours = ssim_map(torch.from_numpy(pred), torch.from_numpy(target), DATA_RANGE)
    assert ours.shape == torch.Size(shape)
    np.testing.assert_allclose(ours.numpy(), full, atol=1e-9)  # borders included (symmetric padding)
    interior = tuple(slice(5, -5) for _ in shape)  # skimage's scalar crops the 11-tap window radius
    assert float(ours[interior].mean()) == pytest.approx(mssim, abs=1e-9)
    assert 0.2 < mssim < 0.99  # a non-trivial pair


def test_hu_metrics_ssim_is_mean_of_skimage_map_and_1_for_identical():
    pred, target = _smooth_pair((20, 20, 20), seed=1)
    _, full = _skimage_ssim(pred, target, full=True)
    assert hu_metrics(pred, target)["ssim"] == pytest.approx(full.mean(), abs=1e-9)
    assert hu_metrics(target, target)["ssim"] == pytest.approx(1.0, abs=1e-12)


def test_mae_rmse_psnr_by_hand_and_plain_floats():
    pred, target = _smooth_pair((12, 14, 10), seed=2)
    out = hu_metrics(pred, target)
    err = pred - target
    mse = np.mean(err**2)
    assert out["mae"] == pytest.approx(np.abs(err).mean(), rel=1e-12)
    assert out["rmse"] == pytest.approx(np.sqrt(mse), rel=1e-12)
    assert out["psnr"] == pytest.approx(10 * np.log10(DATA_RANGE**2 / mse), rel=1e-12)
    assert set(out) == {"mae", "rmse", "psnr", "ssim"}
    assert all(type(v) is float for v in out.values()), {k: type(v) for k, v in out.items()}


def test_constant_offset_and_identical_images():
    target = np.full((8, 8, 8), 40.0)
    out = hu_metrics(target + 100, target)
    assert out["mae"] == pytest.approx(100) and out["rmse"] == pytest.approx(100)
    assert out["psnr"] == pytest.approx(20 * math.log10(DATA_RANGE / 100))
    same = hu_metrics(target, target)
    assert same["mae"] == 0.0 and same["rmse"] == 0.0 and same["psnr"] == math.inf and type(same["psnr"]) is float


def test_clipping_to_hu_range():
    target = np.zeros((8, 8, 8))
    target[:4] = 3000.0
    pred = target.copy()
    pred[:4] = 5000.0  # above the range: clipped to 3000 -> no error there
    pred[4:] = -3000.0  # below: clipped to -1024 -> error 1024
    out = hu_metrics(pred, target)
    assert out["mae"] == pytest.approx(1024 / 2)
    narrow = hu_metrics(pred, target, hu_range=(-100.0, 100.0))  # both clipped to +-100
    assert narrow["mae"] == pytest.approx(100 / 2)
    assert narrow["psnr"] == pytest.approx(10 * np.log10(200**2 / (100**2 / 2)))


def test_mask_variants_numpy_torch_channel_dim():
    pred, target = _smooth_pair((16, 16, 16), seed=3)
    mask = np.zeros(pred.shape, dtype=bool)
    mask[4:12, 3:13, 5:11] = True
    out = hu_metrics(pred, target, mask)
    err = (pred - target)[mask]
    assert out["mae_mask"] == pytest.approx(np.abs(err).mean(), rel=1e-12)
    assert out["rmse_mask"] == pytest.approx(np.sqrt((err**2).mean()), rel=1e-12)
    assert out["psnr_mask"] == pytest.approx(10 * np.log10(DATA_RANGE**2 / (err**2).mean()), rel=1e-12)
    assert out["ssim_mask"] == pytest.approx(float(ssim_map(torch.tensor(pred), torch.tensor(target), DATA_RANGE)[mask].mean()))
    assert out["mae_mask"] != pytest.approx(out["mae"])
    assert all(type(v) is float for v in out.values())
    # channel-first torch tensors (one with grad), uint8 mask: same numbers
    tp = torch.tensor(pred[None], dtype=torch.float64, requires_grad=True)
    other = hu_metrics(tp, torch.tensor(target[None]), torch.tensor(mask[None].astype(np.uint8)))
    assert other == pytest.approx(out)


def test_errors_shape_mismatch_and_empty_mask():
    a = np.zeros((8, 8, 8))
    with pytest.raises(ValueError, match="shape"):
        hu_metrics(a, np.zeros((8, 8, 7)))
    with pytest.raises(ValueError, match="mask shape"):
        hu_metrics(a, a, np.ones((8, 8, 4)))
    with pytest.raises(ValueError, match="empty"):
        hu_metrics(a, a, np.zeros((8, 8, 8)))
