from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_pipelines.transforms.band_normalize import BandNormalize, BandNormalized


def test_fit_uses_all_training_pixels_and_normalises():
    rng = np.random.default_rng(0)
    tiles = [rng.normal([[[5.0]], [[-2.0]]], [[[3.0]], [[0.5]]], size=(2, 16, 8 + 4 * i)) for i in range(3)]
    norm = BandNormalize.fit(tiles)
    pixels = np.concatenate([t.reshape(2, -1) for t in tiles], 1)
    assert np.allclose(norm.mean, pixels.mean(1), atol=1e-5) and np.allclose(norm.std, pixels.std(1), atol=1e-5)
    out = np.concatenate([norm(t).reshape(2, -1) for t in tiles], 1)
    assert np.allclose(out.mean(1), 0, atol=1e-5) and np.allclose(out.std(1), 1, atol=1e-4)


def test_tensor_dict_state_and_errors():
    norm = BandNormalize([1.0, 2.0], [2.0, 0.0])
    out = BandNormalized(normalizer=norm)({"image": torch.tensor([[[3.0]], [[2.0]]])})["image"]
    assert out.flatten().tolist() == [1.0, 0.0]  # zero std floored, no NaN
    other = BandNormalize([0.0, 0.0], [1.0, 1.0])
    other.load_state_dict(norm.state_dict())
    assert np.array_equal(other.mean, norm.mean)
    with pytest.raises(ValueError, match="bands"):
        norm(np.zeros((3, 2, 2)))
    with pytest.raises(ValueError, match="needs"):
        BandNormalized()
