"""Robust loading: each bad input raises one line naming the file, or is skipped with a logged reason."""

import logging

import nibabel as nib
import numpy as np
import pytest
import torch

from monai_pipelines.transforms.robust_load import (
    CorruptedImageError,
    RobustLoadImage,
    RobustLoadImaged,
    check_image,
    filter_loadable,
)


def _save(path, array):
    nib.save(nib.Nifti1Image(np.asarray(array), np.diag([2.0, 2.0, 3.0, 1.0])), str(path))
    return path


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    good = _save(tmp_path / "good.nii.gz", rng.random((6, 7, 5)).astype(np.float32))
    zero = tmp_path / "zero.nii.gz"
    zero.write_bytes(b"")
    raw = good.read_bytes()
    trunc = tmp_path / "trunc.nii.gz"
    trunc.write_bytes(raw[: len(raw) // 2])
    big = _save(tmp_path / "big.nii.gz", rng.random((20, 20, 20)).astype(np.float32)).read_bytes()
    trunc_data = tmp_path / "trunc_data.nii.gz"
    trunc_data.write_bytes(big[: int(len(big) * 0.9)])
    text = tmp_path / "text.nii.gz"
    text.write_text("this is not an image\n")
    flat = _save(tmp_path / "flat.nii.gz", rng.random((6, 7)).astype(np.float32))
    nan = rng.random((6, 7, 5)).astype(np.float32)
    nan[1, 2, 3] = np.nan
    nan[0, 0, 0] = np.inf
    nanf = _save(tmp_path / "nan.nii.gz", nan)
    return {"good": good, "zero": zero, "trunc": trunc, "trunc_data": trunc_data, "text": text, "flat": flat, "nan": nanf,
            "missing": tmp_path / "missing.nii.gz"}


EXPECTED = {
    "zero": (CorruptedImageError, "empty file (0 bytes)"),
    "trunc": (CorruptedImageError, "truncated or corrupted compressed data"),
    "trunc_data": (CorruptedImageError, "truncated or corrupted compressed data"),
    "text": (CorruptedImageError, "not a gzip file"),
    "flat": (CorruptedImageError, "image is 2D (spatial shape (6, 7)), expected 3D"),
    "nan": (CorruptedImageError, "image contains 1 NaN and 1 Inf values of 210"),
    "missing": (FileNotFoundError, "file not found"),
}


def test_good_file_loads_channel_first(files):
    img = RobustLoadImage()(files["good"])
    assert tuple(img.shape) == (1, 6, 7, 5)
    np.testing.assert_allclose(np.diag(img.affine.numpy()), [2, 2, 3, 1])
    assert img.meta["filename_or_obj"].endswith("good.nii.gz")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_file_raises_one_line_naming_file(files, name):
    err_type, problem = EXPECTED[name]
    with pytest.raises(err_type) as info:
        RobustLoadImage()(files[name])
    msg = str(info.value)
    assert msg.startswith(f"{files[name]}: ") and problem in msg, msg
    assert "\n" not in msg and len(msg) < 400
    if name in ("trunc", "trunc_data", "text"):
        assert info.value.__cause__ is not None  # the reader's exception is chained


def test_2d_allowed_when_asked(files):
    assert tuple(RobustLoadImage(spatial_dims=2)(files["flat"]).shape) == (1, 6, 7)
    assert tuple(RobustLoadImage(spatial_dims=None, ensure_channel_first=False)(files["flat"]).shape) == (6, 7)


def test_skip_mode_logs_and_returns_none(files, caplog):
    loader = RobustLoadImage(skip_corrupted=True)
    with caplog.at_level(logging.WARNING, logger="monai_pipelines"):
        for name in EXPECTED:
            assert loader(files[name]) is None
    assert loader.num_skipped == len(EXPECTED)
    assert "truncated or corrupted compressed data" in caplog.text and str(files["trunc"]) in caplog.text
    assert loader(files["good"]) is not None


def test_dictionary_version_skips_whole_item(files):
    t = RobustLoadImaged(keys=["image", "label"], skip_corrupted=True)
    ok = t({"image": files["good"], "label": files["good"], "subject": "s0"})
    assert ok["subject"] == "s0" and tuple(ok["image"].shape) == (1, 6, 7, 5)
    assert t({"image": files["good"], "label": files["nan"], "subject": "s1"}) is None
    assert t.num_skipped == 1 and t.skipped[0][0]["subject"] == "s1" and "NaN" in t.skipped[0][1]
    with pytest.raises(CorruptedImageError, match="trunc.nii.gz: truncated"):
        RobustLoadImaged(keys="image")({"image": files["trunc"]})


def test_filter_loadable_reports_each_bad_item(files, tmp_path):
    datalist = [{"image": name + ".nii.gz", "subject": name} for name in ["good", *EXPECTED]]
    good, skipped = filter_loadable(datalist, keys="image", base_dir=tmp_path)
    assert [g["subject"] for g in good] == ["good"]
    assert {item["subject"] for item, _ in skipped} == set(EXPECTED)
    for item, reason in skipped:
        assert EXPECTED[item["subject"]][1] in reason and "\n" not in reason


def test_check_image_rules():
    check_image(np.ones((4, 4, 4)) * np.arange(4), "a.nii")
    check_image(np.zeros((1, 4, 4, 4)), "a.nii", channel_dim=0)  # constant allowed by default
    with pytest.raises(CorruptedImageError, match="a.nii: image is constant"):
        check_image(np.zeros((4, 4, 4)), "a.nii", allow_constant=False)
    with pytest.raises(CorruptedImageError, match="only NaN"):
        check_image(torch.full((4, 4, 4), float("nan")), "a.nii")
    with pytest.raises(CorruptedImageError, match="empty"):
        check_image(np.zeros((0, 4, 4)), "a.nii")
    with pytest.raises(CorruptedImageError, match=r"2D \(spatial shape \(4, 4, 1\)\), expected 3D"):
        check_image(np.random.rand(4, 4, 1), "a.nii")
    with pytest.raises(CorruptedImageError, match="4D"):
        check_image(np.random.rand(2, 3, 4, 5), "a.nii")


def test_complex_npy_is_refused_although_the_reader_casts_it(tmp_path):
    path = tmp_path / "slice.npy"
    np.save(path, (np.ones((3, 8, 8)) * (1 + 1j)).astype(np.complex64))
    with pytest.raises(CorruptedImageError, match="slice.npy: voxel type complex64 is not a real-valued image"):
        RobustLoadImage(spatial_dims=2).load(path)


def test_strict_filter_refuses_an_item_without_the_image(files):
    with pytest.raises(ValueError, match=r"item \(subject s1\) has no 'image' image"):
        filter_loadable([{"subject": "s1", "label": str(files["good"])}], ["image"], strict=True)
