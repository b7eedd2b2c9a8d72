"""HU windowing: forward mapping, exact inverse, numpy/torch/MetaTensor, dictionary and postprocessing forms."""

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from monai_pipelines.transforms.hu_window import (
    HUWindow,
    HUWindowd,
    HUWindowInverse,
    HUWindowInversed,
    window_to_hu,
)


def test_forward_maps_window_ends_and_clips():
    t = HUWindow(hu_min=-1000.0, hu_max=1000.0, out_min=-1.0, out_max=1.0)
    out = t(np.array([-3000, -1000, 0, 500, 1000, 4000], dtype=np.int16))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [-1, -1, 0, 0.5, 1, 1], atol=1e-6)
    unclipped = HUWindow(-1000.0, 1000.0, clip=False)(np.array([-3000.0]))
    np.testing.assert_allclose(unclipped, [-3.0])


@pytest.mark.parametrize("out_range", [(-1.0, 1.0), (0.0, 1.0)])
def test_round_trip_equals_clipped_input(out_range):
    rng = np.random.default_rng(0)
    hu = rng.uniform(-2000, 4000, size=(2, 7, 9, 5))
    t = HUWindow(-1024.0, 3071.0, *out_range)
    y = t(hu)
    assert y.min() >= out_range[0] and y.max() <= out_range[1]
    np.testing.assert_allclose(t.inverse_array(y), np.clip(hu, -1024, 3071), rtol=0, atol=1e-9)
    np.testing.assert_allclose(window_to_hu(y, -1024.0, 3071.0, *out_range), np.clip(hu, -1024, 3071), atol=1e-9)
    hu32 = hu.astype(np.float32)
    np.testing.assert_allclose(t.inverse_array(t(hu32)), np.clip(hu32, -1024, 3071), rtol=0, atol=1e-3)


def test_torch_metatensor_keeps_meta_and_inverse_clips():
    affine = torch.diag(torch.tensor([2.0, 2.0, 3.0, 1.0]))
    x = MetaTensor(torch.tensor([[[-1024.0, 1023.5, 3071.0]]]), affine=affine)
    y = HUWindow()(x)
    assert isinstance(y, MetaTensor) and torch.equal(y.affine, affine)
    assert torch.allclose(y.as_tensor(), torch.tensor([[[-1.0, 0.0, 1.0]]]))
    pred = MetaTensor(torch.tensor([[[-1.5, 0.0, 1.2]]]), affine=affine)
    hu = HUWindowInverse()(pred)
    assert isinstance(hu, MetaTensor) and torch.equal(hu.affine, affine)
    assert torch.allclose(hu.as_tensor(), torch.tensor([[[-1024.0, 1023.5, 3071.0]]]))
    assert torch.allclose(HUWindowInverse(clip=False)(pred).as_tensor()[0, 0, 0], torch.tensor(-2047.75))


def test_dictionary_versions():
    d = {"image": np.array([-1024.0, 3071.0]), "pred": torch.tensor([0.0]), "other": 5}
    out = HUWindowd(keys="image")(d)
    np.testing.assert_allclose(out["image"], [-1, 1])
    back = HUWindowInversed(keys=["image", "pred"])(out)
    np.testing.assert_allclose(back["image"], [-1024, 3071])
    assert back["other"] == 5 and torch.allclose(back["pred"], torch.tensor([1023.5]))
    with pytest.raises(KeyError):
        HUWindowd(keys="missing")(d)
    assert HUWindowd(keys="missing", allow_missing_keys=True)(d)["other"] == 5


def test_bad_window_raises():
    with pytest.raises(ValueError, match="hu_max > hu_min"):
        HUWindow(hu_min=100.0, hu_max=100.0)
