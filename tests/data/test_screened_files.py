"""Screening remembers the files that passed: a later command does not read them again while they are unchanged,
and still refuses what it refused (bad files are never remembered; a changed file is read again)."""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np
import pytest

from monai_pipelines.data.screened_files import ScreenedFiles, describe_setting
from monai_pipelines.data.screening import check_inputs
from monai_pipelines.transforms.robust_load import RobustLoadImage
from monai_pipelines.utils.errors import InputError


@pytest.fixture
def reads(monkeypatch):
    """The paths RobustLoadImage reads."""
    paths = []
    original = RobustLoadImage.load

    def counting(self, path):
        paths.append(os.path.basename(str(path)))
        return original(self, path)

    monkeypatch.setattr(RobustLoadImage, "load", counting)
    return paths


def _volume(path, shape=(8, 8, 6), value=None):
    data = np.random.default_rng(0).random(shape).astype(np.float32) if value is None else np.full(shape, value)
    nib.save(nib.Nifti1Image(data.astype(np.float32), np.eye(4)), str(path))
    return str(path)


def _items(tmp_path, n=3, **shapes):
    return [{"subject": f"s{i}", "image": _volume(tmp_path / f"s{i}.nii.gz", shapes.get(f"s{i}", (8, 8, 6)))}
            for i in range(n)]


def test_a_second_screening_reads_nothing(tmp_path, reads):
    items = _items(tmp_path)
    assert check_inputs(items, ["image"])[0] == items
    assert sorted(reads) == ["s0.nii.gz", "s1.nii.gz", "s2.nii.gz"]
    reads.clear()
    assert check_inputs(items, ["image"])[0] == items
    assert reads == []


def test_a_changed_file_is_read_again_and_refused(tmp_path, reads):
    items = _items(tmp_path)
    check_inputs(items, ["image"])
    reads.clear()
    with open(items[1]["image"], "r+b") as f:  # truncated in place, after it passed
        f.truncate(100)
    with pytest.raises(InputError, match=r"s1\.nii\.gz.*subject s1"):
        check_inputs(items, ["image"])
    assert reads == ["s1.nii.gz"]


def test_a_refused_file_is_not_remembered(tmp_path, reads):
    items = _items(tmp_path)
    (tmp_path / "s2.nii.gz").write_bytes(b"not a volume")
    for _ in range(2):
        reads.clear()
        good, skipped = check_inputs(items, ["image"], skip_corrupted=True)
        assert [it["subject"] for it in good] == ["s0", "s1"] and len(skipped) == 1
    assert reads == ["s2.nii.gz"]


def test_other_checks_read_again(tmp_path, reads):
    items = _items(tmp_path)
    check_inputs(items, ["image"])
    reads.clear()
    check_inputs(items, ["image"], spatial_dims=None)
    assert len(reads) == 3


def test_same_shape_is_checked_from_the_remembered_shapes(tmp_path, reads):
    items = _items(tmp_path, s2=(8, 8, 7))
    check_inputs(items[:2], ["image"], same_shape=True)
    check_inputs(items[2:], ["image"], same_shape=True)
    reads.clear()
    with pytest.raises(InputError, match=r"image size \(8, 8, 7\) differs from the size \(8, 8, 6\)"):
        check_inputs(items, ["image"], same_shape=True)
    assert reads == []


def test_a_loading_transform_remembers_the_item(tmp_path):
    calls = []

    def load(item):
        calls.append(item["subject"])
        if item["subject"] == "s1":
            raise InputError("s1: bad mask")
        return item

    items = [{"subject": f"s{i}", "image": _volume(tmp_path / f"s{i}.nii.gz"),
              "label": _volume(tmp_path / f"m{i}.nii.gz", value=1)} for i in range(3)]
    for _ in range(2):
        good, _ = check_inputs(items, ["image", "label"], skip_corrupted=True, load=load)
        assert [it["subject"] for it in good] == ["s0", "s2"]
    assert calls == ["s0", "s1", "s2", "s1"]
    _volume(tmp_path / "m2.nii.gz", shape=(8, 8, 5), value=1)  # the item's second file replaced
    check_inputs(items, ["image", "label"], skip_corrupted=True, load=load)
    assert calls[4:] == ["s1", "s2"]


def test_settings_are_described_without_addresses():
    from monai.data import NumpyReader

    assert describe_setting(NumpyReader(channel_dim=0)) == describe_setting(NumpyReader(channel_dim=0))
    assert describe_setting(NumpyReader(channel_dim=0)) != describe_setting(NumpyReader(channel_dim=None))
    assert "0x" not in describe_setting(NumpyReader(channel_dim=0))


def test_records_of_two_processes_are_merged(tmp_path):
    for name in "ab":
        _volume(tmp_path / f"{name}.nii.gz")
    first, second = ScreenedFiles([1], tmp_path / "cache"), ScreenedFiles([1], tmp_path / "cache")
    first.passed([tmp_path / "a.nii.gz"], (8, 8, 6))
    first.save()
    second.passed([tmp_path / "b.nii.gz"], (8, 8, 6))
    second.save()
    again = ScreenedFiles([1], tmp_path / "cache")
    assert again.shape([tmp_path / "a.nii.gz"]) == [8, 8, 6] == again.shape([tmp_path / "b.nii.gz"])
    assert ScreenedFiles([2], tmp_path / "cache").shape([tmp_path / "a.nii.gz"]) is None


def test_without_a_writable_cache_every_image_is_read(tmp_path, reads, monkeypatch):
    blocked = tmp_path / "not_a_folder"
    blocked.write_text("")
    monkeypatch.setenv("MONAI_PIPELINES_CACHE", str(blocked / "cache"))  # mkdir fails: a file is in the way
    items = _items(tmp_path)
    for _ in range(2):
        assert check_inputs(items, ["image"])[0] == items
    assert len(reads) == 6
