from __future__ import annotations

import numpy as np
import pytest

from monai_pipelines.data.geotiff import LoadGeoTIFFd, labels_from_channels
from monai_pipelines.data.hkh import HKH_BANDS, build_hkh_manifest


def _write_slices(root, tiles=6, per_tile=2):
    (root / "slices").mkdir()
    for t in range(tiles):
        for n in range(per_tile):
            img = np.random.default_rng(t).random((16, 16, 15)).astype(np.float32)
            mask = np.zeros((16, 16, 3), dtype=np.uint8)  # HKH layout: all glaciers, clean ice, debris
            mask[:4, :, 1] = 1
            mask[8:, :, 2] = 1
            mask[..., 0] = mask[..., 1] | mask[..., 2]
            np.save(root / "slices" / f"slice_{t}_img_{n:03d}.npy", img)
            np.save(root / "slices" / f"slice_{t}_mask_{n:03d}.npy", mask)
    np.save(root / "slices" / "slice_9_img_000.npy", np.zeros((16, 16, 15), np.float32))  # no mask: left out


def test_manifest_keeps_tiles_in_one_fold(tmp_path):
    _write_slices(tmp_path)
    manifest = build_hkh_manifest(tmp_path, k=3, seed=1)
    items = manifest["training"] + manifest["validation"] + manifest["test"]
    assert len(items) == 12 and all(not it["image"].startswith("/") for it in items)
    folds = {}
    for it in items:
        folds.setdefault(it["subject"], set()).add(it["fold"])
    assert len(folds) == 6 and all(len(f) == 1 for f in folds.values())


def test_slices_load_with_hkh_band_names_and_classes(tmp_path):
    _write_slices(tmp_path, tiles=1, per_tile=1)
    item = {"image": str(tmp_path / "slices/slice_0_img_000.npy"), "label": str(tmp_path / "slices/slice_0_mask_000.npy")}
    out = LoadGeoTIFFd(bands=["B4", "ndsi", "elevation"], band_names=HKH_BANDS)(item)
    raw = np.load(item["image"])
    assert out["image"].shape == (3, 16, 16)
    assert np.array_equal(out["image"][1], raw[..., HKH_BANDS.index("ndsi")])
    assert out["label"].shape == (1, 16, 16)
    assert (out["label"][0, :4] == 1).all() and (out["label"][0, 8:] == 2).all() and (out["label"][0, 4:8] == 0).all()


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        build_hkh_manifest(tmp_path / "nope")
    with pytest.raises(ValueError, match="no slice"):
        build_hkh_manifest(tmp_path)


def test_channel_classes_choose_and_skip_channels():
    mask = np.zeros((2, 3, 3), dtype=np.uint8)
    mask[0, :, 0] = mask[0, 0, 1] = mask[0, 1, 2] = 1  # glacier row: one clean, one debris, one unlabelled pixel
    assert labels_from_channels(mask).tolist() == [[1, 2, 0], [0, 0, 0]]
    assert labels_from_channels(mask, (1, 0, 2)).tolist() == [[1, 2, 1], [0, 0, 0]]


@pytest.mark.parametrize("name", ["slice_6_mask_072.npy", "slice_14_mask_062.npy"])
def test_real_hkh_masks_channel_0_is_all_glaciers(real_data, name):
    mask = np.load(real_data / "hkh" / name)
    assert mask.shape == (512, 512, 3) and mask.any()
    # channel 0 (every glacier) covers channels 1 (clean ice) and 2 (debris): it is their union, not a class
    assert ((mask[..., 1] | mask[..., 2]) <= mask[..., 0]).all()
    labels = labels_from_channels(mask)
    assert np.array_equal(labels == 1, mask[..., 1] > 0) and np.array_equal(labels == 2, mask[..., 2] > 0)
