"""build_paired_manifest: trainA/trainB/testA/testB layout -> manifest; unmatched names, shape mismatches, bad files."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from monai_pipelines.data.manifest import select_fold
from monai_pipelines.data.paired_volumes import build_paired_manifest


def _write(path: Path, shape=(4, 4, 3)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.arange(np.prod(shape), dtype=np.float32).reshape(shape), np.eye(4)), str(path))


def _layout(root: Path, train=("p1", "p2", "p3", "p4"), test=("t1",)) -> Path:
    for name in train:
        _write(root / "trainA" / f"{name}.nii.gz")
        _write(root / "trainB" / f"{name}.nii.gz")
    for name in test:
        _write(root / "testA" / f"{name}.nii.gz")
        _write(root / "testB" / f"{name}.nii.gz")
    return root


def test_manifest_pairs_folds_and_test_split(tmp_path):
    root = _layout(tmp_path / "ds")
    manifest = build_paired_manifest(root, k=2, seed=0)
    assert manifest["path_keys"] == ["condition", "target"]
    assert [it["subject"] for it in manifest["test"]] == ["t1"]
    assert manifest["test"][0]["condition"] == "testA/t1.nii.gz" and manifest["test"][0]["target"] == "testB/t1.nii.gz"
    pool = manifest["training"] + manifest["validation"]
    assert sorted(it["subject"] for it in pool) == ["p1", "p2", "p3", "p4"]
    assert {it["fold"] for it in pool} == {0, 1}
    items = select_fold(manifest, 1, "validation", dataset_dir=root)
    assert all(Path(it["condition"]).is_file() and Path(it["target"]).is_file() for it in items)


def test_no_test_folders_means_no_test_split(tmp_path):
    manifest = build_paired_manifest(_layout(tmp_path / "ds", test=()), k=2)
    assert manifest["test"] == []


def test_unmatched_names_refused_in_one_line(tmp_path):
    root = _layout(tmp_path / "ds")
    _write(root / "trainA" / "extra.nii.gz")
    with pytest.raises(ValueError, match=r"names must match; 1 only in trainA/ \(extra\)") as err:
        build_paired_manifest(root)
    assert "\n" not in str(err.value)


def test_shape_mismatch_refused_or_skipped(tmp_path):
    root = _layout(tmp_path / "ds")
    _write(root / "trainB" / "p2.nii.gz", shape=(4, 4, 5))
    with pytest.raises(ValueError, match=r"p2.nii.gz: pair has different shapes \(4, 4, 3\) and \(4, 4, 5\)"):
        build_paired_manifest(root, k=2)
    manifest = build_paired_manifest(root, k=2, skip_corrupted=True)
    assert "p2" not in {it["subject"] for it in manifest["training"] + manifest["validation"]}
    assert manifest["skipped"][0]["subject"] == "p2"


def test_unreadable_header_and_missing_folder(tmp_path):
    root = _layout(tmp_path / "ds")
    (root / "trainA" / "p3.nii.gz").write_bytes(b"not a nifti")
    with pytest.raises(ValueError, match=r"p3.nii.gz: not a gzip file, cannot be read as an image .*\(subject p3\)"):
        build_paired_manifest(root, k=2)
    with pytest.raises(FileNotFoundError, match="trainA/ and trainB/"):
        build_paired_manifest(tmp_path / "empty")
