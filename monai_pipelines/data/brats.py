"""BraTS 2018 training layout -> manifest with grade labels (LGG 0, HGG 1) and stratified cross-validation folds.

Layout (as distributed)::

    <dataset_dir>/HGG/<subject>/<subject>_{flair,t1,t1ce,t2}.nii.gz  (+ _seg.nii.gz)
    <dataset_dir>/LGG/<subject>/...

MONAI's ``DecathlonDataset``/``BratsDataset`` read the Decathlon/2021+ layouts, which carry no grade; this reads the
2018 one, where the grade is the parent folder. Items carry every modality path under its name (``flair``, ``t1``,
``t1ce``, ``t2``, and ``seg`` when present), ``label`` (0/1) and ``grade``; a bundle picks its input modality by key.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from monai_pipelines.data.manifest import build_manifest, ensure_manifest

__all__ = ["BRATS_MODALITIES", "GRADE_LABELS", "scan_brats", "build_brats_manifest", "ensure_brats_manifest"]

logger = logging.getLogger("monai_pipelines")

BRATS_MODALITIES: tuple[str, ...] = ("flair", "t1", "t1ce", "t2")
GRADE_LABELS: dict[str, int] = {"LGG": 0, "HGG": 1}
_SUFFIXES = (".nii.gz", ".nii")


def _find(folder: Path, subject: str, key: str) -> Path | None:
    for suffix in _SUFFIXES:
        path = folder / f"{subject}_{key}{suffix}"
        if path.is_file():
            return path
    return None


def scan_brats(dataset_dir: str | os.PathLike, modalities: Sequence[str] = BRATS_MODALITIES) -> list[dict]:
    """Datalist items of every subject under ``HGG/`` and ``LGG/``, paths relative to ``dataset_dir``.

    Raises ``FileNotFoundError`` when neither grade folder exists or a subject lacks one of ``modalities``.
    """
    root = Path(dataset_dir)
    unknown = [m for m in modalities if m not in BRATS_MODALITIES]
    if unknown or not modalities:
        raise ValueError(f"modalities must be among {BRATS_MODALITIES}, got {list(modalities)}.")
    if not any((root / grade).is_dir() for grade in GRADE_LABELS):
        raise FileNotFoundError(f"{root}: no HGG/ or LGG/ folder (BraTS 2018 training layout expected).")
    items = []
    for grade, label in GRADE_LABELS.items():
        folder = root / grade
        if not folder.is_dir():
            logger.warning(f"{folder}: missing, no {grade} subjects")
            continue
        for subject_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            subject = subject_dir.name
            item: dict = {"subject": subject, "grade": grade, "label": label}
            for key in (*modalities, "seg"):
                path = _find(subject_dir, subject, key)
                if path is None and key != "seg":
                    raise FileNotFoundError(f"{subject_dir / (subject + '_' + key + '.nii.gz')}: missing {key} image.")
                if path is not None:
                    item[key] = path.relative_to(root).as_posix()
            items.append(item)
    if not items:
        raise FileNotFoundError(f"{root}: HGG/ and LGG/ hold no subject folders.")
    return items


def build_brats_manifest(
    dataset_dir: str | os.PathLike,
    k: int = 5,
    seed: int = 0,
    modalities: Sequence[str] = BRATS_MODALITIES,
    name: str = "brats2018_grade",
    description: str = "BraTS 2018 training set: glioma grade (LGG 0, HGG 1), stratified folds.",
) -> dict:
    """Manifest of all subjects in ``k`` folds stratified by grade (no held-out test split, as 5-fold CV)."""
    items = scan_brats(dataset_dir, modalities)
    path_keys = [*modalities] + (["seg"] if any("seg" in i for i in items) else [])
    return build_manifest(
        name,
        items,
        k=k,
        seed=seed,
        test_fraction=0.0,
        description=description,
        modality={m: f"MR {m.upper()}" for m in modalities},
        labels={str(v): g for g, v in GRADE_LABELS.items()},
        path_keys=path_keys,
        label_key="label",
    )


def ensure_brats_manifest(
    dataset_dir: str | os.PathLike, manifest_path: str | os.PathLike, k: int = 5, seed: int = 0,
    modalities: Sequence[str] = BRATS_MODALITIES,
) -> dict:
    """The manifest at ``manifest_path``, built from ``dataset_dir`` only the first time (folds fixed forever)."""
    return ensure_manifest(manifest_path, lambda: build_brats_manifest(dataset_dir, k, seed, modalities))
