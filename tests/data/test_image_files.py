"""image_datalist: one file, a folder of images (sorted, non-images ignored), missing input, label matching."""

from __future__ import annotations

import pytest

from monai_pipelines.data.image_files import image_datalist


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_single_file(tmp_path):
    f = _touch(tmp_path / "a.nii.gz")
    assert image_datalist(f) == [{"image": str(f)}]
    assert image_datalist(str(f), key="t1") == [{"t1": str(f)}]


def test_folder_sorted_images_only(tmp_path):
    for name in ("b.nii.gz", "a.NII", "c.mha", "notes.txt", "d.nii.gz.bak"):
        _touch(tmp_path / "in" / name)
    (tmp_path / "in" / "sub.nii.gz").mkdir()  # a folder named like an image is not a file
    items = image_datalist(tmp_path / "in")
    assert [item["image"] for item in items] == [str(tmp_path / "in" / n) for n in ("a.NII", "b.nii.gz", "c.mha")]


def test_missing_and_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        image_datalist(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    _touch(tmp_path / "empty" / "readme.md")
    with pytest.raises(FileNotFoundError, match="no image files"):
        image_datalist(tmp_path / "empty")


def test_label_folder_matches_by_name(tmp_path):
    for name in ("s1.nii.gz", "s2.nii.gz"):
        _touch(tmp_path / "mr" / name)
    ct = _touch(tmp_path / "ct" / "s1.nii.gz")
    items = image_datalist(tmp_path / "mr", label_path=tmp_path / "ct")
    assert items[0] == {"image": str(tmp_path / "mr" / "s1.nii.gz"), "label": str(ct)}
    assert items[1] == {"image": str(tmp_path / "mr" / "s2.nii.gz")}  # no matching label: no key


def test_label_file_for_single_image_and_missing_label(tmp_path):
    mr, ct = _touch(tmp_path / "mr.nii.gz"), _touch(tmp_path / "ct.nii.gz")
    assert image_datalist(mr, label_path=ct) == [{"image": str(mr), "label": str(ct)}]
    with pytest.raises(FileNotFoundError, match="absent.nii.gz"):  # a typo in label_path is reported, not ignored
        image_datalist(mr, label_path=tmp_path / "absent.nii.gz")


def test_one_label_file_for_a_folder_of_images_is_an_error(tmp_path):
    for name in ("s1.nii.gz", "s2.nii.gz"):
        _touch(tmp_path / "mr" / name)
    ct = _touch(tmp_path / "ct.nii.gz")
    with pytest.raises(ValueError, match="2 images"):
        image_datalist(tmp_path / "mr", label_path=ct)


def test_folder_filtered_by_pattern(tmp_path):
    for name in ("s1_fla.nii.gz", "s1_t1.nii.gz", "s2_fla.nii.gz"):
        _touch(tmp_path / "in" / name)
    items = image_datalist(tmp_path / "in", key="flair", pattern="*_fla.nii.gz")
    assert items == [{"flair": str(tmp_path / "in" / n)} for n in ("s1_fla.nii.gz", "s2_fla.nii.gz")]
    with pytest.raises(FileNotFoundError, match="matching '\\*_t2"):
        image_datalist(tmp_path / "in", pattern="*_t2.nii.gz")
