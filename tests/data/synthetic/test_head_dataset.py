"""generate_head_mri_ct at tiny size: a valid manifest with image/label/mask items, the test split, loadable NIfTIs."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from monai_pipelines.data.manifest import TEST_FOLD, datalist, load_manifest, select_fold, validate_manifest
from monai_pipelines.data.synthetic.head_dataset import (
    HEAD_MRI_CT_SUBJECTS,
    generate_head_mri_ct,
    head_mri_ct_manifest,
)

SHAPE = (16, 16, 16)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("head_mri_ct")
    path = generate_head_mri_ct(root, n_subjects=6, shape=SHAPE, folds=2, seed=3)
    return root, path


def test_manifest_valid_with_files(dataset):
    root, path = dataset
    assert path == root / "manifest.json"
    manifest = json.loads(path.read_text())
    assert validate_manifest(manifest, dataset_dir=root) == []
    assert manifest["name"] == "head_mri_ct" and manifest["folds"] == 2 and manifest["seed"] == 3
    assert load_manifest(path)["path_keys"] == ["image", "label", "mask"]


def test_items_splits_and_folds(dataset):
    root, path = dataset
    manifest = load_manifest(path)
    items = [item for split in ("training", "validation", "test") for item in manifest[split]]
    assert sorted(item["subject"] for item in items) == [f"phantom_{i:03d}" for i in range(6)]
    for item in items:
        assert {"subject", "fold", "image", "label", "mask"} <= set(item)
        assert item["image"].endswith("_t1.nii.gz") and item["label"].endswith("_ct.nii.gz")
        assert item["mask"].endswith("_headmask.nii.gz") and item["image"].startswith(item["subject"] + "/")
    assert len(manifest["test"]) == 1  # round(0.15 * 6)
    assert {item["fold"] for item in manifest["test"]} == {TEST_FOLD}
    assert {item["fold"] for item in manifest["validation"]} == {0}
    assert {item["fold"] for item in manifest["training"]} == {1}
    assert len(manifest["validation"]) + len(manifest["training"]) == 5
    test = datalist(path, root, "test")
    assert len(test) == 1 and test[0]["image"] == str(root / manifest["test"][0]["image"])  # resolved paths


def test_images_load_with_shape_and_content(dataset):
    root, path = dataset
    item = load_manifest(path)["training"][0]
    t1, ct, mask = (nib.load(root / item[k]) for k in ("image", "label", "mask"))
    for img in (t1, ct, mask):
        assert img.shape == SHAPE
    assert np.allclose(t1.affine, ct.affine) and np.allclose(t1.affine, mask.affine)
    ct_data, mask_data = ct.get_fdata(), mask.get_fdata()
    assert mask.get_data_dtype() == np.uint8 and set(np.unique(mask_data)) == {0.0, 1.0}
    assert ct_data[mask_data == 0].mean() < -500  # air around the head in HU
    assert ct_data.max() > 300  # bone
    assert np.isfinite(t1.get_fdata()).all() and t1.get_fdata().std() > 0


def test_test_fraction_and_seed(tmp_path):
    path = generate_head_mri_ct(tmp_path, n_subjects=6, shape=SHAPE, folds=2, seed=3, test_fraction=0.34)
    assert len(load_manifest(path)["test"]) == 2


def test_default_demo_split_is_the_documents_42_9_9():
    """60 subjects: fold 0 (the default) trains on 42, validates on 9 and tests on 9, as the source document."""
    items = [{"subject": f"phantom_{i:03d}", "image": f"{i}_t1.nii.gz", "label": f"{i}_ct.nii.gz",
              "mask": f"{i}_mask.nii.gz"} for i in range(HEAD_MRI_CT_SUBJECTS)]
    manifest = head_mri_ct_manifest(items)
    counts = [len(select_fold(manifest, 0, split)) for split in ("training", "validation", "test")]
    assert counts == [42, 9, 9]
