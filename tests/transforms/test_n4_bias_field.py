"""N4 bias-field correction: a known smooth bias on a three-tissue phantom is removed; real IXI keeps its geometry."""

import time

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from monai_pipelines.transforms.n4_bias_field import (
    N4BiasFieldCorrection,
    N4BiasFieldCorrectiond,
    n4_bias_field_correction,
    otsu_threshold,
)


def _phantom(n: int = 48, seed: int = 0):
    """Head (GM-like 60), WM ellipsoid (100), CSF ventricle (20), 1% noise, times a smooth multiplicative bias."""
    g = np.stack(np.meshgrid(*[np.linspace(-1, 1, n)] * 3, indexing="ij"))

    def radius(axes, centre=(0.0, 0.0, 0.0)):
        return np.sqrt(sum(((g[i] - centre[i]) / axes[i]) ** 2 for i in range(3)))

    head, wm, csf = radius((0.85, 0.9, 0.8)) < 1, radius((0.5, 0.6, 0.45)) < 1, radius((0.12, 0.3, 0.15), (0, 0.05, 0)) < 1
    img = np.zeros((n,) * 3)
    img[head], img[wm], img[csf] = 60.0, 100.0, 20.0
    bias = np.exp(0.35 * g[0] - 0.25 * g[1] + 0.2 * g[2] ** 2 - 0.1 * g[0] * g[1])
    noisy = img * bias * (1 + 0.01 * np.random.default_rng(seed).standard_normal(img.shape))
    return noisy.astype(np.float32), wm & ~csf, bias


def _cv(x, region):
    return float(x[region].std() / x[region].mean())


def test_otsu_mask_equals_itks():
    itk = pytest.importorskip("itk")
    rng = np.random.default_rng(0)
    volume = np.concatenate([rng.normal(mu, 15, 2000) for mu in (0, 100, 180)]).reshape(20, 15, 20).astype(np.float32)
    image = itk.image_from_array(volume)
    otsu = itk.OtsuThresholdImageFilter[type(image), itk.Image[itk.UC, 3]].New(Input=image, NumberOfHistogramBins=256)
    otsu.Update()
    assert ((volume > otsu_threshold(volume)) == (volume > otsu.GetThreshold())).all()


def test_otsu_separates_two_classes():
    values = np.concatenate([np.zeros(1000), np.full(500, 10.0)])
    assert 0.0 <= otsu_threshold(values) <= 10.0
    assert ((values > otsu_threshold(values)) == (values == 10.0)).all()


def test_phantom_bias_removed_fast():
    image, wm, true_bias = _phantom()
    n4_bias_field_correction(image[::4, ::4, ::4] + 1, iterations=(1,))  # load ITK's modules outside the timing
    start = time.perf_counter()
    corrected, bias = n4_bias_field_correction(image, spacing=(1.0, 1.0, 1.0), return_bias_field=True)
    seconds = time.perf_counter() - start
    before, after = _cv(image, wm), _cv(corrected, wm)
    print(f"N4 phantom 48^3: {seconds:.2f}s, WM CV {before:.4f} -> {after:.4f} ({before / after:.1f}x)")
    assert corrected.shape == image.shape and corrected.dtype == np.float32
    assert before / after >= 5.0
    assert seconds < 20.0
    np.testing.assert_allclose(corrected * bias, image, rtol=1e-5, atol=1e-4)
    # the estimated field follows the true one up to scale: compare log fields inside the head, mean removed
    head = image > 0
    est, true = np.log(bias[head]), np.log(true_bias[head])
    assert np.corrcoef(est, true)[0, 1] > 0.95


def test_array_and_dict_transforms_keep_meta_and_use_mask():
    image, wm, _ = _phantom(n=24)
    affine = torch.diag(torch.tensor([2.0, 2.0, 2.0, 1.0]))
    img = MetaTensor(torch.from_numpy(image)[None], affine=affine)
    out = N4BiasFieldCorrection(shrink_factor=2, iterations=(20, 20))(img)
    assert isinstance(out, MetaTensor) and out.shape == img.shape and torch.equal(out.affine, affine)
    assert _cv(out[0].numpy(), wm) < _cv(image, wm)
    mask = torch.from_numpy(image > 0)[None]
    d = N4BiasFieldCorrectiond(keys="image", mask_key="mask", shrink_factor=2, iterations=(20, 20))(
        {"image": img, "mask": mask}
    )
    assert torch.equal(d["image"].affine, affine) and torch.equal(d["mask"], mask)
    with pytest.raises(ValueError, match="mask shape"):
        N4BiasFieldCorrection(iterations=(1,))(img, mask=torch.ones(1, 5, 5, 5))
    with pytest.raises(ValueError, match="NaN"):
        n4_bias_field_correction(np.full((8, 8, 8), np.nan, np.float32))


@pytest.mark.real_data
def test_real_ixi_t1_keeps_geometry(real_data):
    from monai.transforms import LoadImage

    t1 = LoadImage(image_only=True, ensure_channel_first=True)(real_data / "ixi" / "IXI002-Guys-0828-T1.nii.gz")
    start = time.perf_counter()
    out = N4BiasFieldCorrection(shrink_factor=4, iterations=(10, 10))(t1)
    print(f"N4 real IXI T1 {tuple(t1.shape[1:])}: {time.perf_counter() - start:.1f}s")
    assert isinstance(out, MetaTensor) and out.shape == t1.shape
    assert torch.allclose(out.affine, t1.affine)
    assert torch.isfinite(out).all()
    brain = t1[0] > 0
    ratio = out[0][brain] / t1[0][brain]
    assert 0.9 < float(ratio.mean()) < 1.1  # the intensity level is kept
    assert float(ratio.std()) > 0.005  # and a real (non-constant) field was removed
    assert bool((out[0][~brain] == 0).all())
