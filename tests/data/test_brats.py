"""BraTS 2018 layout -> manifest: grades, modality paths, stratified folds, clear errors."""

from __future__ import annotations

from collections import Counter

import pytest

from monai_pipelines.data.brats import build_brats_manifest, ensure_brats_manifest, scan_brats
from monai_pipelines.data.manifest import select_fold


def _layout(root, n_hgg=6, n_lgg=4, seg=True, skip=None):
    for grade, n in (("HGG", n_hgg), ("LGG", n_lgg)):
        for i in range(n):
            subject = f"Brats18_{grade}_{i}_1"
            folder = root / grade / subject
            folder.mkdir(parents=True)
            for key in ("flair", "t1", "t1ce", "t2") + (("seg",) if seg else ()):
                if (subject, key) != skip:
                    (folder / f"{subject}_{key}.nii.gz").write_bytes(b"")
    return root


def test_scan_items(tmp_path):
    items = scan_brats(_layout(tmp_path))
    assert len(items) == 10 and Counter(i["grade"] for i in items) == {"HGG": 6, "LGG": 4}
    first = next(i for i in items if i["subject"] == "Brats18_LGG_2_1")
    assert first["label"] == 0 and first["flair"] == "LGG/Brats18_LGG_2_1/Brats18_LGG_2_1_flair.nii.gz"
    assert first["seg"].endswith("_seg.nii.gz")
    assert all(i["label"] == 1 for i in items if i["grade"] == "HGG")
    only = scan_brats(tmp_path, modalities=["flair"])
    assert "t1" not in only[0] and "flair" in only[0]


def test_manifest_stratified_folds(tmp_path):
    manifest = build_brats_manifest(_layout(tmp_path, n_hgg=15, n_lgg=5), k=5, seed=1)
    assert manifest["labels"] == {"0": "LGG", "1": "HGG"} and manifest["test"] == []
    assert set(manifest["path_keys"]) == {"flair", "t1", "t1ce", "t2", "seg"}
    for fold in range(5):
        val = select_fold(manifest, fold, "validation", dataset_dir=tmp_path)
        assert Counter(i["label"] for i in val) == {1: 3, 0: 1}  # 3:1 in every fold
        assert val[0]["flair"].startswith(str(tmp_path))
    path = tmp_path / "manifest.json"
    first = ensure_brats_manifest(tmp_path, path, k=5, seed=1)
    (tmp_path / "HGG" / "Brats18_extra_1").mkdir()  # later changes do not redraw the saved folds
    assert ensure_brats_manifest(tmp_path, path, k=5, seed=2) == first


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no HGG/ or LGG/"):
        scan_brats(tmp_path)
    _layout(tmp_path, n_hgg=2, n_lgg=1, skip=("Brats18_HGG_1_1", "t1ce"))
    with pytest.raises(FileNotFoundError, match="Brats18_HGG_1_1_t1ce.nii.gz: missing t1ce"):
        scan_brats(tmp_path)
    assert len(scan_brats(tmp_path, modalities=["flair", "t2"])) == 3
    with pytest.raises(ValueError, match="modalities"):
        scan_brats(tmp_path, modalities=["dwi"])
