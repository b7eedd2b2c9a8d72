from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import rasterio
from monai.utils import OptionalImportError
from PIL import Image

from monai_pipelines.data.geotiff import (
    CLASS_COLOURS,
    LoadGeoTIFFd,
    band_indices,
    read_geotiff,
    save_overlay_png,
    write_mask_geotiff,
)

TILE = "hkh/LE07_134040_20070922_clip.tif"
MISSING_RASTERIO = 'GeoTIFF files need rasterio, which is not installed: pip install -e ".[geo]"'


@pytest.fixture
def without_rasterio(monkeypatch):
    """``import rasterio`` fails, as in an install without the ``geo`` extra."""
    monkeypatch.setitem(sys.modules, "rasterio", None)


def test_missing_rasterio_is_one_line_naming_the_geo_extra(without_rasterio, tmp_path):
    tif = tmp_path / "tile.tif"
    tif.write_bytes(b"II*\x00")
    for call in (lambda: read_geotiff(tif), lambda: write_mask_geotiff(np.zeros((2, 2)), tmp_path / "m.tif", like=tif)):
        with pytest.raises(OptionalImportError) as info:
            call()
        assert str(info.value) == MISSING_RASTERIO
    np.save(tmp_path / "slice.npy", np.ones((4, 4, 2), np.float32))  # HKH .npy slices need no rasterio
    assert read_geotiff(tmp_path / "slice.npy")[0].shape == (2, 4, 4)


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


def _mask(path, values, dtype="uint8"):
    with rasterio.open(path, "w", driver="GTiff", height=values.shape[0], width=values.shape[1], count=1,
                       dtype=dtype) as dst:
        dst.write(values.astype(dtype), 1)
    return path


def test_masks_are_refused_in_one_line_naming_the_file(tmp_path):
    """NaN, values that are not class numbers, another size than the image: never cast silently into classes."""
    np.save(tmp_path / "image.npy", np.ones((4, 4, 2), np.float32))
    load = LoadGeoTIFFd(num_classes=4)
    cases = {
        "nan.tif": (_mask(tmp_path / "nan.tif", np.where(np.eye(4) > 0, np.nan, 1), "float32"), "holds 4 NaN/Inf"),
        "seven.tif": (_mask(tmp_path / "seven.tif", np.eye(4) * 7), r"value\(s\) \[7\] are not class numbers 0 .. 3"),
        "half.tif": (_mask(tmp_path / "half.tif", np.eye(4) * 1.5, "float32"), r"\[1.5\] are not class numbers"),
        "small.tif": (_mask(tmp_path / "small.tif", np.ones((2, 4))), r"mask size \(2, 4\) differs from the size \(4, 4\)"),
        "nan.npy": (tmp_path / "nan.npy", "NaN/Inf"),
    }
    np.save(tmp_path / "nan.npy", np.where(np.eye(4)[..., None] > 0, np.nan, 0.0) * np.ones(3))
    for name, (path, message) in cases.items():
        with pytest.raises(ValueError, match=message) as info:
            load({"image": str(tmp_path / "image.npy"), "label": str(path)})
        assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value), name
    good = load({"image": str(tmp_path / "image.npy"), "label": str(_mask(tmp_path / "good.tif", np.eye(4) * 3))})
    assert good["label"].dtype == np.uint8 and good["label"].max() == 3


def test_a_constant_band_is_used_with_a_warning(tmp_path, caplog):
    np.save(tmp_path / "slice.npy", np.stack([np.full((4, 4), 2.0), np.eye(4)], -1).astype(np.float32))
    with caplog.at_level("WARNING", logger="monai_pipelines"):
        image, _ = read_geotiff(tmp_path / "slice.npy", band_names=["B2", "ndsi"])
    assert image[0].tolist() == np.full((4, 4), 2.0).tolist()
    assert f"{tmp_path / 'slice.npy'}: constant band(s) B2 (every pixel 2)" in caplog.text and "ndsi" not in caplog.text


@pytest.mark.parametrize("georeferenced", [True, False], ids=["like a GeoTIFF", "from a .npy slice"])
def test_mask_geotiff_is_written_without_gdal_errors_or_warnings(georeferenced, tmp_path, caplog):
    """GDAL refuses a colour map set after the pixels ("Cannot modify tag PhotometricInterpretation while writing",
    logged at INFO on every glacier inference); a mask meant to have no georeferencing warns of none."""
    like = tmp_path / "like.tif"
    with rasterio.open(like, "w", driver="GTiff", height=6, width=5, count=1, dtype="uint8", crs="EPSG:32645",
                       transform=rasterio.transform.from_origin(0.0, 0.0, 30.0, 30.0)) as dst:
        dst.write(np.zeros((6, 5), np.uint8), 1)
    mask = np.arange(30, dtype=np.uint8).reshape(6, 5) % 3
    caplog.set_level("DEBUG", logger="rasterio")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = write_mask_geotiff(mask, tmp_path / "mask.tif", like=like if georeferenced else None)
    assert [r.getMessage() for r in caplog.records if "signalled an error" in r.getMessage()] == []
    assert [str(w.message) for w in caught] == []
    with rasterio.open(out) as dst:
        assert dst.colorinterp == (rasterio.enums.ColorInterp.palette,)
        assert np.array_equal(dst.read(1), mask)
        assert [dst.colormap(1)[k][:3] for k in range(3)] == [tuple(c) for c in CLASS_COLOURS[:3].tolist()]
        assert dst.descriptions == ("class",)
