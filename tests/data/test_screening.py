"""screen_datalist: without skip_corrupted the first bad file ends it in one line; with it, bad items dropped with a
logged reason and count."""

from __future__ import annotations

import logging

import nibabel as nib
import numpy as np
import pytest

from monai_pipelines.data.screening import screen_datalist
from monai_pipelines.utils.errors import InputError


@pytest.fixture
def datalist(tmp_path):
    good = tmp_path / "good.nii.gz"
    nib.save(nib.Nifti1Image(np.random.default_rng(0).random((6, 7, 8)).astype(np.float32), np.eye(4)), good)
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    return [
        {"subject": "ok", "image": "good.nii.gz", "label": "good.nii.gz"},
        {"subject": "zero", "image": "empty.nii.gz", "label": "good.nii.gz"},
        {"subject": "gone", "image": "good.nii.gz", "label": "missing.nii.gz"},
    ]


def test_off_the_first_bad_file_ends_it_in_one_line_naming_file_and_subject(datalist, tmp_path):
    with pytest.raises(InputError, match=r"empty.nii.gz: empty file \(0 bytes\) \(subject zero\)"):
        screen_datalist(datalist, ["image", "label"], base_dir=tmp_path)
    out = screen_datalist(datalist[:1], ["image", "label"], base_dir=tmp_path)
    assert out == datalist[:1] and out is not datalist


def test_same_shape_refuses_an_image_of_another_size(datalist, tmp_path):
    nib.save(nib.Nifti1Image(np.ones((6, 7, 9), np.float32), np.eye(4)), tmp_path / "other.nii.gz")
    items = [datalist[0], {"subject": "odd", "image": "other.nii.gz"}]
    with pytest.raises(InputError, match=r"other.nii.gz: image size \(6, 7, 9\) differs from the size \(6, 7, 8\)"):
        screen_datalist(items, ["image"], base_dir=tmp_path, same_shape=True)
    assert screen_datalist(items, ["image"], base_dir=tmp_path) == items


def test_skip_corrupted_drops_zero_byte_and_missing_with_reasons(datalist, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="monai_pipelines"):
        out = screen_datalist(datalist, ["image", "label"], skip_corrupted=True, base_dir=tmp_path)
    assert [item["subject"] for item in out] == ["ok"]
    lines = [r.getMessage() for r in caplog.records if "subject" in r.getMessage()]
    zero = next(m for m in lines if "subject zero" in m)
    assert "empty.nii.gz" in zero and "empty file (0 bytes)" in zero
    gone = next(m for m in lines if "subject gone" in m)
    assert "missing.nii.gz" in gone
    assert any("2 of 3 items skipped, 1 used" in r.getMessage() for r in caplog.records)


def test_skip_corrupted_only_checks_given_keys(datalist, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="monai_pipelines"):
        out = screen_datalist(datalist, ["label"], skip_corrupted=True, base_dir=tmp_path)
    assert [item["subject"] for item in out] == ["ok", "zero"]


def test_skip_corrupted_all_good_logs_nothing(datalist, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="monai_pipelines"):
        out = screen_datalist(datalist[:1], "image", skip_corrupted=True, base_dir=tmp_path)
    assert out == datalist[:1]
    assert not [r for r in caplog.records if "skip" in r.getMessage()]


def test_a_loading_transform_screens_formats_the_readers_do_not_know(tmp_path, caplog):
    """``load``: the item is read by the pipeline's own dictionary loader (e.g. LoadGeoTIFFd); its one-line error
    names the file and gains the subject, or the item is skipped with it."""
    from monai_pipelines.data.geotiff import LoadGeoTIFFd

    np.save(tmp_path / "image.npy", np.ones((4, 4, 2), np.float32))
    np.save(tmp_path / "label.npy", np.ones((4, 4), np.uint8))
    np.save(tmp_path / "seven.npy", np.full((4, 4), 7, np.uint8))
    items = [{"subject": "ok", "image": "image.npy", "label": "label.npy"},
             {"subject": "odd", "image": "image.npy", "label": "seven.npy"}]
    load = LoadGeoTIFFd(num_classes=4)
    with pytest.raises(InputError, match=r"seven.npy: mask value\(s\) \[7\] are not class numbers 0 .. 3 \(subject odd\)"):
        screen_datalist(items, ["image", "label"], base_dir=tmp_path, load=load)
    with caplog.at_level(logging.WARNING, logger="monai_pipelines"):
        assert screen_datalist(items, ["image", "label"], True, base_dir=tmp_path, load=load) == items[:1]
    assert "skipping item (subject odd): " + str(tmp_path / "seven.npy") in caplog.text
