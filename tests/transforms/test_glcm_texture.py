from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from skimage.feature import graycomatrix, graycoprops

from monai_pipelines.transforms.glcm_texture import GLCM_FEATURES, GLCMTextured, glcm_features, quantise


@pytest.mark.parametrize("offset, angle", [((0, 1), 0.0), ((1, 0), np.pi / 2)])
def test_matches_skimage_per_window(offset, angle):
    rng = np.random.default_rng(0)
    q = rng.integers(0, 8, (12, 14))
    ours = glcm_features(q, window=5, offset=offset, levels=8, features=GLCM_FEATURES)
    padded = np.pad(q, 2, mode="reflect").astype(np.uint8)
    for y, x in [(0, 0), (5, 7), (11, 13), (3, 12)]:
        glcm = graycomatrix(padded[y : y + 5, x : x + 5], [1], [angle], levels=8, symmetric=True, normed=True)
        for i, name in enumerate(GLCM_FEATURES):
            assert ours[i, y, x] == pytest.approx(graycoprops(glcm, name)[0, 0], abs=1e-5), name


def test_fast_on_a_tile():
    q = quantise(np.random.default_rng(1).random((256, 256)), 16)
    start = time.perf_counter()
    feats = glcm_features(q, window=7, levels=16, features=("contrast", "homogeneity", "correlation"))
    assert feats.shape == (3, 256, 256)
    assert time.perf_counter() - start < 1.0  # skimage per window: ~15 s for this tile


def test_dictionary_transform_appends_channels_and_names():
    img = torch.rand(3, 32, 32)
    out = GLCMTextured(bands=[1], features=["contrast", "energy"], levels=8)(
        {"image": img, "band_names": ["a", "b", "c"]}
    )
    assert out["image"].shape == (5, 32, 32)
    assert torch.equal(out["image"][:3], img)
    assert out["band_names"] == ["a", "b", "c", "b_contrast", "b_energy"]
    with pytest.raises(ValueError, match="unknown"):
        glcm_features(np.zeros((8, 8), int), features=["entropyish"])
