from __future__ import annotations

import numpy as np
import pytest
import rasterio
from PIL import Image

from monai_pipelines.data.geotiff import (
    LoadGeoTIFFd,
    band_indices,
    read_geotiff,
    save_overlay_png,
    write_mask_geotiff,
)

TILE = "hkh/LE07_134040_20070922_clip.tif"


def test_band_selection_by_name():
    assert band_indices(["B1", "B2", "ndsi"], ["NDSI", "b1"]) == [2, 0]
    with pytest.raises(ValueError, match="not found"):
        band_indices(["B1"], ["B9"])


def test_real_tile_read_select_write_overlay(real_data, tmp_path):
    path = real_data / TILE
    image, meta = read_geotiff(path, bands=["B2", "B3", "B4", "B5", "ndsi"])
    assert image.shape == (5, 169, 139) and image.dtype == np.float32
    with rasterio.open(path) as src:
        assert np.array_equal(image[4], src.read(12)) and src.descriptions[11] == "ndsi"
        transform, crs = src.transform, src.crs
    mask = (image[4] > 0.4).astype(np.uint8)
    out = write_mask_geotiff(mask, tmp_path / "mask.tif", like=path)
    with rasterio.open(out) as dst:
        assert dst.transform == transform and dst.crs == crs and dst.count == 1
        assert np.array_equal(dst.read(1), mask) and dst.colormap(1)[1][:3] == (80, 200, 255)
    png = save_overlay_png(image, mask, tmp_path / "overlay.png", rgb=(2, 1, 0))
    rgb = np.asarray(Image.open(png))
    assert rgb.shape == (169, 139, 3)
    with pytest.raises(ValueError, match="differs"):
        write_mask_geotiff(mask[:10], tmp_path / "bad.tif", like=path)


def test_load_dict_and_errors(real_data, tmp_path):
    out = LoadGeoTIFFd(keys=["image"], bands=["ndsi", "elevation"])({"image": str(real_data / TILE)})
    assert out["image"].shape == (2, 169, 139) and out["band_names"] == ["ndsi", "elevation"]
    assert out["image_path"].endswith("clip.tif")
    with pytest.raises(FileNotFoundError, match="not found"):
        read_geotiff(tmp_path / "missing.tif")
    (tmp_path / "junk.tif").write_text("not a tiff")
    with pytest.raises(ValueError, match="not a readable GeoTIFF"):
        read_geotiff(tmp_path / "junk.tif")
