from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import rasterio
from monai.utils import OptionalImportError

from monai_pipelines.data.geotiff import read_geotiff
from monai_pipelines.data.hkh import HKH_BANDS
from monai_pipelines.data.synthetic.glacier_tiles import generate_glacier_tiles, glacier_tile


def _band(bands: np.ndarray, name: str) -> np.ndarray:
    return bands[HKH_BANDS.index(name)]


def test_tile_physics():
    bands, labels = glacier_tile(5, size=96)
    assert bands.shape == (15, 96, 96) and labels.shape == (96, 96)
    assert set(np.unique(labels)) == {0, 1, 2, 3}
    elev, ndsi, ndwi = _band(bands, "elevation"), _band(bands, "ndsi"), _band(bands, "ndwi")
    ice, debris, lake = labels == 1, labels == 2, labels == 3
    assert elev[ice].mean() > elev[debris].mean() > elev[lake].mean()  # ice high, tongue below, lake at terminus
    assert ndsi[ice].mean() > 0.6 and ndsi[debris].mean() < 0.0  # ice: bright visible, dark SWIR
    assert _band(bands, "B2")[ice].mean() > 3 * _band(bands, "B5")[ice].mean()
    assert _band(bands, "B4")[lake].mean() < _band(bands, "B4")[debris].mean()  # water dark in NIR
    assert ndwi[lake].mean() > ndwi[debris].mean()
    assert 0 <= _band(bands, "slope").min() and _band(bands, "slope").max() < 90
    assert np.array_equal(glacier_tile(5, size=96)[0], bands)  # deterministic


def test_generate_writes_geotiffs_and_manifest(tmp_path):
    path = generate_glacier_tiles(tmp_path, n_tiles=6, size=64)
    manifest = json.loads(path.read_text())
    assert manifest["folds"] == 5
    items = manifest["training"] + manifest["validation"] + manifest["test"]
    assert len(items) == 6
    image, meta = read_geotiff(tmp_path / items[0]["image"], bands=["B2", "B5", "ndsi"])
    assert image.shape == (3, 64, 64) and meta["band_names"] == ["B2", "B5", "ndsi"]
    with rasterio.open(tmp_path / items[0]["label"]) as src:
        assert src.read(1).max() <= 3 and src.crs is not None and src.transform == meta["transform"]


def test_demo_tiles_without_rasterio_name_the_geo_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "rasterio", None)
    with pytest.raises(OptionalImportError, match=r'pip install -e "\.\[geo\]"'):
        generate_glacier_tiles(tmp_path, n_tiles=1, size=32)
