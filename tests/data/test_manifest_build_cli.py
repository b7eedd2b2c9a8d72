"""`monai-pipelines manifest build {paired,brats,hkh,ixi}` on tiny layouts the tests create."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from monai_pipelines import cli
from monai_pipelines.data.ixi import _assign_splits
from monai_pipelines.data.manifest import load_manifest, validate_manifest


def run(capsys, *argv):
    code = cli.main(["manifest", "build", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


def _nifti(path, shape=(4, 4, 3)):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.zeros(shape, np.int16), np.eye(4)), str(path))


def _subjects_by_fold(manifest):
    folds = {}
    for split in ("training", "validation", "test"):
        for it in manifest[split]:
            folds.setdefault(it["subject"], set()).add(it["fold"])
    return folds


def test_paired_layout_gets_folds_and_test_split_written_atomically(capsys, tmp_path):
    for split, n in (("train", 10), ("test", 2)):
        for i in range(n):
            for side in "AB":
                _nifti(tmp_path / f"{split}{side}" / f"{split}_{i:02d}.nii.gz")
    code, out, err = run(capsys, "paired", tmp_path, "--folds", 5, "--seed", 3)
    assert code == 0 and err == "", err
    manifest = load_manifest(tmp_path / "manifest.json")
    assert out.startswith(f"wrote {tmp_path / 'manifest.json'}: {tmp_path.name}, seed 3; 12 subjects, 5 folds")
    assert manifest["folds"] == 5 and manifest["seed"] == 3
    assert sorted(it["subject"] for it in manifest["test"]) == ["test_00", "test_01"]
    assert {it["condition"].split("/")[0] for it in manifest["training"]} == {"trainA"}
    assert validate_manifest(manifest, tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["manifest.json"]  # no temp file left
    # same seed -> same folds; an existing manifest is kept unless --force
    first = (tmp_path / "manifest.json").read_text()
    code, _, err = run(capsys, "paired", tmp_path, "--seed", 4)
    assert code == 1 and "exists already" in err and (tmp_path / "manifest.json").read_text() == first
    assert run(capsys, "paired", tmp_path, "--seed", 3, "--force")[0] == 0
    assert (tmp_path / "manifest.json").read_text() == first


def test_paired_layout_errors_are_one_line(capsys, tmp_path):
    _nifti(tmp_path / "trainA" / "a.nii.gz")
    _nifti(tmp_path / "trainB" / "b.nii.gz")
    code, out, err = run(capsys, "paired", tmp_path)
    assert code == 1 and out == "" and err.startswith("error: ") and "names must match" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "manifest.json").exists()
    code, _, err = run(capsys, "paired", tmp_path / "nope")
    assert code == 1 and "not found" in err


def test_brats_layout_stratified_by_grade(capsys, tmp_path):
    for grade, n in (("HGG", 8), ("LGG", 4)):
        for i in range(n):
            subject = f"Brats18_{grade}_{i}"
            for key in ("flair", "t1"):
                (tmp_path / grade / subject).mkdir(parents=True, exist_ok=True)
                (tmp_path / grade / subject / f"{subject}_{key}.nii.gz").touch()
    out_file = tmp_path / "manifests" / "brats.json"
    code, out, err = run(capsys, "brats", tmp_path, "--modalities", "flair", "t1", "--folds", 4, "--out", out_file)
    assert code == 0, err
    manifest = load_manifest(out_file)
    assert manifest["label_key"] == "label" and manifest["test"] == [] and manifest["folds"] == 4
    for fold in range(4):  # 2 HGG + 1 LGG per fold
        grades = sorted(it["grade"] for s in ("training", "validation") for it in manifest[s] if it["fold"] == fold)
        assert grades == ["HGG", "HGG", "LGG"]
    assert validate_manifest(manifest, tmp_path) == []
    code, _, err = run(capsys, "brats", tmp_path, "--modalities", "flair", "t2", "--force", "--out", out_file)
    assert code == 1 and "missing t2 image" in err


def test_hkh_layout_keeps_tiles_together(capsys, tmp_path):
    for t in range(8):
        for n in range(3):
            for kind in ("img", "mask"):
                (tmp_path / "slices").mkdir(exist_ok=True)
                np.save(tmp_path / "slices" / f"slice_{t}_{kind}_{n:03d}.npy", np.zeros((2, 2), np.uint8))
    code, _, err = run(capsys, "hkh", tmp_path, "--folds", 3, "--seed", 1)
    assert code == 0, err
    manifest = load_manifest(tmp_path / "manifest.json")
    folds = _subjects_by_fold(manifest)
    assert len(folds) == 8 and all(len(f) == 1 for f in folds.values())
    assert run(capsys, "hkh", tmp_path, "--by-slice", "--force")[0] == 0
    assert len(_subjects_by_fold(load_manifest(tmp_path / "manifest.json"))) == 24


def _prepared_ixi(root, subjects, seed):
    split = _assign_splits(subjects, seed, 0.15, 5)  # as prepare_ixi lays out its folders
    for s in subjects:
        (root / split[s]).mkdir(parents=True, exist_ok=True)
        for z in (40, 41):
            np.save(root / split[s] / f"{s}_{z:03d}.npy", np.zeros((3, 4, 4), np.float32))
    return split


def test_ixi_prepared_slices_keep_their_split_folders(capsys, tmp_path):
    subjects = [f"IXI{i:03d}-Guys-{1000 + i}" for i in range(20)]
    split = _prepared_ixi(tmp_path, subjects, seed=42)
    code, _, err = run(capsys, "ixi", tmp_path)
    assert code == 0, err
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["name"] == "ixi_slices" and len(manifest["training"] + manifest["validation"]) + len(
        manifest["test"]) == 40
    for section, folder in (("training", "train"), ("validation", "val"), ("test", "test")):
        assert {it["subject"] for it in manifest[section]} == {s for s in subjects if split[s] == folder}
    # another seed cannot move subjects between folders: val/ stays fold 0, train/ is dealt over folds 1..4
    code, _, err = run(capsys, "ixi", tmp_path, "--seed", 7, "--force")
    assert code == 0, err
    other = load_manifest(tmp_path / "manifest.json")
    assert {it["subject"] for it in other["validation"]} == {s for s in subjects if split[s] == "val"}
    assert {it["fold"] for it in other["training"]} == {1, 2, 3, 4}
    assert validate_manifest(other, tmp_path) == []


def test_ixi_raw_volumes_point_to_prepare(capsys, tmp_path):
    (tmp_path / "IXI002-Guys-0828-T1.nii.gz").touch()
    code, _, err = run(capsys, "ixi", tmp_path)
    assert code == 1 and "monai-pipelines prepare ixi" in err


@pytest.mark.parametrize("layout", ["paired", "brats", "hkh", "ixi"])
def test_every_layout_has_help(capsys, layout):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["manifest", "build", layout, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--folds" in out and "--seed" in out and "--force" in out and "DATASET_DIR" in out
