"""The MRI -> CT demo dataset: paired T1 / CT head phantoms with a head mask and a manifest."""

from __future__ import annotations

from pathlib import Path

from monai_pipelines.data.manifest import build_manifest, write_manifest
from monai_pipelines.data.synthetic.head_phantom import make_head_phantom, save_nifti

HEAD_MRI_CT_SUBJECTS = 60
HEAD_MRI_CT_SHAPE = (64, 64, 64)
# 9 of 60 subjects held out as test; 6 folds of the other 51 have 9, 9, 9, 8, 8, 8 subjects, so the default fold 0
# gives the source document's 42 / 9 / 9 (train / validation / test) split (5 folds gave 40 / 11 / 9)
HEAD_MRI_CT_FOLDS = 6
HEAD_MRI_CT_TEST_FRACTION = 0.15


def generate_head_mri_ct(
    out_dir: str | Path,
    n_subjects: int = HEAD_MRI_CT_SUBJECTS,
    shape: tuple[int, int, int] = HEAD_MRI_CT_SHAPE,
    seed: int = 0,
    folds: int = HEAD_MRI_CT_FOLDS,
    test_fraction: float = HEAD_MRI_CT_TEST_FRACTION,
) -> Path:
    """Write ``n_subjects`` phantoms (T1 with a mild bias field and noise, CT in HU, head mask) and manifest.json.

    Items: ``image`` = T1, ``label`` = CT, ``mask`` = head mask; 15 % of subjects held out as test, the
    rest in ``folds`` cross-validation folds (fold 0 is the default validation split: 42 / 9 / 9 by default).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(n_subjects):
        subject = f"phantom_{i:03d}"
        phantom = make_head_phantom(seed=seed * 100_003 + i, shape=shape, sequences=("t1",), bias_field=0.2, noise=0.02)
        paths = {
            "image": f"{subject}/{subject}_t1.nii.gz",
            "label": f"{subject}/{subject}_ct.nii.gz",
            "mask": f"{subject}/{subject}_headmask.nii.gz",
        }
        save_nifti(phantom.images["t1"], phantom.affine, out_dir / paths["image"])
        save_nifti(phantom.images["ct"], phantom.affine, out_dir / paths["label"])
        save_nifti(phantom.head_mask.astype("uint8"), phantom.affine, out_dir / paths["mask"], dtype="uint8")
        items.append({"subject": subject, **paths})
    return write_manifest(head_mri_ct_manifest(items, shape, seed, folds, test_fraction), out_dir / "manifest.json")


def head_mri_ct_manifest(
    items: list[dict],
    shape: tuple[int, int, int] = HEAD_MRI_CT_SHAPE,
    seed: int = 0,
    folds: int = HEAD_MRI_CT_FOLDS,
    test_fraction: float = HEAD_MRI_CT_TEST_FRACTION,
) -> dict:
    """The demo's manifest of ``items`` (one per subject, with image/label/mask paths)."""
    return build_manifest(
        "head_mri_ct",
        items,
        k=folds,
        seed=seed,
        test_fraction=test_fraction,
        description=f"Synthetic head phantoms: T1 MRI and CT in HU, {shape[0]}x{shape[1]}x{shape[2]} at 1 mm.",
        modality={"image": "MR T1", "label": "CT (HU)", "mask": "head mask"},
        path_keys=("image", "label", "mask"),
    )
