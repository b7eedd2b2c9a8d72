"""Body mask: lungs that reach the volume's ends stay inside, outside objects are dropped, dict + tensor paths."""

from __future__ import annotations

import numpy as np
import torch

from monai_pipelines.transforms import BodyMask, BodyMaskd, ct_body_mask, fill_holes_per_slice, largest_component


def _thorax(shape=(40, 40, 6)) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    body2d = (x - 20) ** 2 / 15**2 + (y - 20) ** 2 / 12**2 <= 1
    lung2d = (x - 14) ** 2 + (y - 20) ** 2 <= 16
    vol = np.full(shape, -1000.0, np.float32)
    vol[body2d] = 40.0
    vol[lung2d] = -850.0  # every slice, so a 3D hole fill would leak through the top and bottom
    vol[0:3, 0:3, :] = 100.0  # a small object outside the body (table, marker)
    return vol, np.repeat(body2d[..., None], shape[2], axis=2)


def test_lungs_inside_and_outside_object_dropped():
    vol, expected = _thorax()
    mask = ct_body_mask(vol)
    assert mask.dtype == bool and mask.shape == vol.shape
    np.testing.assert_array_equal(mask, expected)


def test_channel_first_tensor_and_dict():
    vol, expected = _thorax()
    out = BodyMask()(torch.as_tensor(vol[None]))
    assert isinstance(out, torch.Tensor) and out.shape == (1, *vol.shape) and out.dtype == torch.uint8
    np.testing.assert_array_equal(out[0].numpy(), expected)
    d = BodyMaskd(keys="label", mask_key="mask")({"label": vol[None], "image": vol[None]})
    assert set(d) == {"label", "image", "mask"}
    np.testing.assert_array_equal(d["mask"][0], expected.astype(np.uint8))


def test_empty_volume_gives_empty_mask():
    assert not ct_body_mask(np.full((8, 8, 4), -1000.0)).any()


def test_largest_component_and_per_slice_fill():
    mask = np.zeros((6, 6, 2), bool)
    mask[0, 0] = True  # 2 voxels
    mask[2:6, 2:6] = True  # 32 voxels with a hole through both slices
    mask[3:5, 3:5] = False
    kept = largest_component(mask)
    assert kept.sum() == 24 and not kept[0, 0].any()
    filled = fill_holes_per_slice(kept)
    assert filled[3:5, 3:5].all() and filled.sum() == 32
    assert not largest_component(np.zeros((4, 4), bool)).any()
