"""IntensityLookup: recovers a noisy intensity mapping, fills empty bins, keeps torch/device, errors, datalist fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_pipelines.inferers.intensity_lookup import IntensityLookup


def _f(x):
    return 1000 * np.sin(3 * x) + 300 * x


def _pairs(n=3, shape=(16, 16, 16), seed=0, noise=50.0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        x = rng.uniform(0, 2, size=shape)
        yield x.astype(np.float32), (_f(x) + rng.normal(0, noise, size=shape)).astype(np.float32)


def test_fit_recovers_noisy_mapping():
    lookup = IntensityLookup(bins=64).fit(_pairs())
    x = np.linspace(0.05, 1.95, 200)
    pred = lookup(x)
    assert pred.dtype == np.float32 and pred.shape == x.shape
    # noise 50 over ~190 voxels per bin (se ~4) + bin-width curvature error: well under 20 HU
    assert np.abs(pred - _f(x)).max() < 20
    # outside the fitted range the end values are held, not extrapolated
    assert lookup(np.array([-5.0]))[0] == pytest.approx(lookup(np.array([0.0]))[0], abs=1e-3)


def test_empty_bins_are_interpolated_between_neighbours():
    x = np.concatenate([np.linspace(0, 1, 500), np.linspace(2, 3, 500)])
    lookup = IntensityLookup(bins=30).fit([(x, 2 * x)])
    centres = 0.5 * (lookup.edges[:-1] + lookup.edges[1:])
    gap = (centres > 1.05) & (centres < 1.95)
    assert gap.sum() >= 5  # these bins saw no voxel
    assert np.all(np.isfinite(lookup.means))
    np.testing.assert_allclose(lookup.means[gap], 2 * centres[gap], atol=0.1)  # linear between filled neighbours
    assert float(lookup(np.array([1.5]))[0]) == pytest.approx(3.0, abs=0.1)


def test_torch_in_torch_out_same_device_and_shape():
    lookup = IntensityLookup(bins=16).fit([(np.linspace(0, 1, 100), np.linspace(0, 10, 100))])
    image = torch.linspace(0, 1, 24).reshape(1, 2, 3, 4)
    out = lookup(image)
    assert isinstance(out, torch.Tensor) and out.device == image.device and out.shape == image.shape
    np.testing.assert_allclose(out.numpy(), 10 * image.numpy(), atol=0.4)
    out_grad = lookup(image.clone().requires_grad_(True))  # detached, no error
    assert torch.equal(out_grad, out)
    if torch.cuda.is_available():
        assert lookup(image.cuda()).device.type == "cuda"


def test_errors_unfitted_mismatched_and_empty():
    with pytest.raises(RuntimeError, match="fitted"):
        IntensityLookup()(np.zeros(3))
    with pytest.raises(ValueError, match="differ"):
        IntensityLookup().fit([(np.zeros((4, 4)), np.zeros((4, 5)))])
    with pytest.raises(ValueError, match="at least one"):
        IntensityLookup().fit([])


def test_fit_datalist_applies_transform():
    rng = np.random.default_rng(1)
    datalist = [{"image": rng.uniform(0, 1, size=(8, 8, 8)), "subject": f"s{i}"} for i in range(3)]
    seen = []

    def transform(item):
        seen.append(item["subject"])
        item["ct"] = 1000 * item["image"] - 500  # the target the transform derives
        item["image"] = torch.as_tensor(item["image"])[None]  # channel-first tensor like LoadImaged + EnsureChannelFirstd
        return item

    lookup = IntensityLookup.fit_datalist(datalist, transform, input_key="image", target_key="ct", bins=20)
    assert seen == ["s0", "s1", "s2"] and "ct" not in datalist[0]  # items copied, not modified
    assert lookup.bins == 20
    np.testing.assert_allclose(lookup(np.array([0.2, 0.5, 0.8])), [-300, 0, 300], atol=30)
