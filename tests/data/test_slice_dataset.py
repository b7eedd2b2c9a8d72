"""VolumeSliceDataset: valid-slice index (NaN / constant skipped), cache reuse, HU window, resize, bad volumes."""

from __future__ import annotations

import pickle
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

import monai_pipelines.data.slice_dataset as slice_dataset
from monai_pipelines.data.slice_dataset import VolumeSliceDataset
from monai_pipelines.transforms.robust_load import CorruptedImageError


def _save(path: Path, data: np.ndarray) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data.astype(np.float32), np.eye(4)), str(path))
    return str(path)


@pytest.fixture
def pairs(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.uniform(-1000, 1000, size=(8, 8, 6))
    b = rng.uniform(-1000, 1000, size=(8, 8, 6))
    a[..., 1] = np.nan  # non-finite slice
    b[..., 4] = 40.0  # constant target slice
    c = rng.uniform(-1000, 1000, size=(8, 8, 3))
    c[0, 0, 0], c[1, 1, 0] = -1024.0, 3071.0
    return [
        {"subject": "s1", "condition": _save(tmp_path / "A/s1.nii", a), "target": _save(tmp_path / "B/s1.nii", b)},
        {"subject": "s2", "condition": _save(tmp_path / "A/s2.nii.gz", c), "target": _save(tmp_path / "B/s2.nii.gz", c)},
    ]


def test_valid_slices_report_and_items(pairs, tmp_path):
    ds = VolumeSliceDataset(pairs, spatial_size=16, cache_dir=tmp_path / "idx")
    assert len(ds) == 4 + 3
    assert ds.report["slices_skipped"] == {"nan": 1, "constant": 1}
    assert [ds.locate(i) for i in range(len(ds))] == [(0, 0), (0, 2), (0, 3), (0, 5), (1, 0), (1, 1), (1, 2)]
    item = ds[4]
    assert item["condition"].shape == item["target"].shape == (1, 16, 16)
    assert item["subject"] == "s2" and item["slice"] == 0 and type(item["condition"]) is torch.Tensor
    unresized = VolumeSliceDataset(pairs, spatial_size=None, cache_dir=tmp_path / "idx")[4]["condition"]
    assert unresized[0, 0, 0] == -1.0 and unresized[0, 1, 1] == 1.0  # HU window [-1024, 3071] -> [-1, 1]
    assert unresized.min() >= -1 and unresized.max() <= 1
    with pytest.raises(IndexError):
        ds[7]


def test_index_cache_is_reused_without_reading_volumes(pairs, tmp_path, monkeypatch):
    VolumeSliceDataset(pairs, cache_dir=tmp_path / "idx")
    assert len(list((tmp_path / "idx").glob("*.json"))) == 2

    def _no_read(path):
        raise AssertionError("volume read while building the index")

    monkeypatch.setattr(slice_dataset, "read_volume", _no_read)
    ds = VolumeSliceDataset(pairs, cache_dir=tmp_path / "idx")
    assert len(ds) == 7 and ds.report["slices_skipped"]["nan"] == 1


def test_corrupted_and_mismatched_volumes(pairs, tmp_path):
    broken = tmp_path / "A/broken.nii.gz"
    broken.write_bytes(b"\x1f\x8b garbage")
    bad = [*pairs, {"subject": "bad", "condition": str(broken), "target": pairs[0]["target"]}]
    with pytest.raises(CorruptedImageError, match="broken.nii.gz: cannot be read"):
        VolumeSliceDataset(bad, cache_dir=tmp_path / "idx")
    mismatch = [{"subject": "m", "condition": pairs[0]["condition"], "target": pairs[1]["target"]}]
    with pytest.raises(ValueError, match="different shapes"):
        VolumeSliceDataset(mismatch, cache_dir=tmp_path / "idx")
    ds = VolumeSliceDataset(bad + mismatch, skip_corrupted=True, cache_dir=tmp_path / "idx")
    assert ds.report["volumes_skipped"] == 2 and ds.report["volumes"] == 2 and len(ds) == 7
    assert "skipped 2 pairs" in ds.report_line()


@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("spatial_size", [16, None])
def test_slice_cache_returns_the_same_slices_as_decoding(pairs, tmp_path, axis, spatial_size):
    kwargs = {"spatial_size": spatial_size, "axis": axis, "hu_min": -500.0, "hu_max": 900.0}
    cached = VolumeSliceDataset(pairs, cache_dir=tmp_path / "idx", **kwargs)
    decoded = VolumeSliceDataset(pairs, cache_dir=tmp_path / "idx", slice_cache=False, **kwargs)
    assert len(cached) == len(decoded) and cached.report == decoded.report
    for i in range(len(cached)):
        a, b = cached[i], decoded[i]
        v, k = cached.locate(i)
        reference = slice_dataset.read_volume(pairs[v]["condition"])  # the original per-slice path
        assert torch.equal(a["condition"], cached.prepare_slice(np.take(reference, k, axis=axis)))
        for key in ("condition", "target"):
            assert type(a[key]) is torch.Tensor and a[key].dtype == torch.float32
            assert torch.equal(a[key], b[key])
        assert (a["subject"], a["slice"]) == (b["subject"], b["slice"])


def test_slice_cache_decodes_each_volume_once_and_is_keyed_by_settings(pairs, tmp_path, monkeypatch):
    VolumeSliceDataset(pairs, spatial_size=16, cache_dir=tmp_path / "idx")
    assert len(list((tmp_path / "idx").glob("*.slices.npy"))) == 4  # one per volume file

    def _no_read(path):
        raise AssertionError("volume decoded again")

    with monkeypatch.context() as m:
        m.setattr(slice_dataset, "read_volume", _no_read)
        ds = VolumeSliceDataset(pairs, spatial_size=16, cache_dir=tmp_path / "idx")
        items = [ds[i] for i in np.random.default_rng(0).permutation(len(ds))]
        assert len(items) == 7
        restored = pickle.loads(pickle.dumps(ds))  # DataLoader workers get no open maps
        assert restored._mapped == {} and torch.equal(restored[3]["target"], ds[3]["target"])
    VolumeSliceDataset(pairs, spatial_size=8, cache_dir=tmp_path / "idx")  # another size: another cache
    assert len(list((tmp_path / "idx").glob("*.slices.npy"))) == 8
    changed = _save(Path(pairs[0]["condition"]), np.full((8, 8, 6), 7.0))  # new content, new mtime/size key
    ds = VolumeSliceDataset([{**pairs[0], "condition": changed}], spatial_size=8, cache_dir=tmp_path / "other")
    assert len(ds) == 0 and ds.report["slices_skipped"]["constant"] == 6
    assert not list((tmp_path / "idx").glob(".*.tmp"))
