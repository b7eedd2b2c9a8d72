"""Manifest of a paired-volume folder in the pix2pix layout: trainA/trainB (+ optional testA/testB), same names.

``A`` is the condition (e.g. average CT), ``B`` the target (e.g. phase-0 CT). Names must match across A and B, every
volume must load and pass the image checks (finite, 3D, one channel, a usable affine) and the shapes of a pair must
agree; anything else is refused in one line, or skipped and counted with ``skip_corrupted``. The test folders become the manifest's held-out ``test`` split; train pairs get the folds.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import nibabel as nib

from monai_pipelines.data.manifest import build_manifest
from monai_pipelines.transforms.robust_load import CorruptedImageError
from monai_pipelines.utils.enums import Keys

logger = logging.getLogger("monai_pipelines")

NIFTI_SUFFIXES = (".nii.gz", ".nii")
PAIRED_PATH_KEYS = (Keys.CONDITION.value, Keys.TARGET.value)


def _stem(name: str) -> str:
    for suffix in NIFTI_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _volumes(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {_stem(p.name): p for p in sorted(folder.iterdir()) if p.is_file() and p.name.lower().endswith(NIFTI_SUFFIXES)}


def _header_shape(path: Path) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in nib.load(str(path)).shape)
    except Exception as e:  # any header failure -> one line naming the file
        raise CorruptedImageError(path, f"cannot read the NIfTI header ({type(e).__name__}: {e})") from None


def _usable_pairs(root: Path, a: str, b: str, vol_a: dict[str, Path], vol_b: dict[str, Path], skip_corrupted: bool,
                  report: dict | None) -> set[str]:
    """Names of the pairs whose two volumes load and pass the image checks (every voxel read): a bad one raises
    one line naming it, or with ``skip_corrupted`` is logged and listed in ``report["skipped"]``."""
    from monai_pipelines.data.screening import check_inputs

    if not vol_a:
        return set()
    pairs = [{Keys.SUBJECT.value: name, a: str(vol_a[name]), b: str(vol_b[name])} for name in sorted(vol_a)]
    good, skipped = check_inputs(pairs, [a, b], skip_corrupted, allow_missing_keys=False,
                                 skip_option="--skip-corrupted")
    for item, reason in skipped:
        if report is not None:
            report.setdefault("skipped", []).append({"subject": item[Keys.SUBJECT.value], "reason": reason})
    return {item[Keys.SUBJECT.value] for item in good}


def paired_items(
    root: str | os.PathLike, a: str, b: str, skip_corrupted: bool = False, report: dict | None = None
) -> list[dict[str, Any]]:
    """Items ``{subject, condition: a/<name>, target: b/<name>}`` of the pairs in ``root/a`` and ``root/b``.

    Raises ValueError (one line) on unmatched names, an unusable volume or a shape mismatch, unless
    ``skip_corrupted``: then the pair is skipped and counted in ``report["skipped"]``.
    """
    root = Path(root)
    vol_a, vol_b = _volumes(root / a), _volumes(root / b)
    only_a, only_b = sorted(set(vol_a) - set(vol_b)), sorted(set(vol_b) - set(vol_a))
    if only_a or only_b:
        parts = [f"{len(names)} only in {folder}/ ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})"
                 for names, folder in ((only_a, a), (only_b, b)) if names]
        raise ValueError(f"{root}: {a}/ and {b}/ names must match; {'; '.join(parts)}.")
    items: list[dict[str, Any]] = []
    usable = _usable_pairs(root, a, b, vol_a, vol_b, skip_corrupted, report)
    for name in sorted(vol_a):
        if name not in usable:
            continue
        try:
            shape_a, shape_b = _header_shape(vol_a[name]), _header_shape(vol_b[name])
            if shape_a != shape_b:
                raise ValueError(
                    f"{vol_a[name]} and {vol_b[name]}: pair has different shapes {shape_a} and {shape_b}."
                )
        except ValueError as e:  # CorruptedImageError is a ValueError
            if not skip_corrupted:
                raise
            logger.warning("skipping pair %s: %s", name, e)
            if report is not None:
                report.setdefault("skipped", []).append({"subject": name, "reason": str(e)})
            continue
        items.append(
            {Keys.SUBJECT.value: name, Keys.CONDITION.value: f"{a}/{vol_a[name].name}", Keys.TARGET.value: f"{b}/{vol_b[name].name}"}
        )
    return items


def build_paired_manifest(
    root: str | os.PathLike,
    k: int = 5,
    seed: int = 0,
    name: str | None = None,
    skip_corrupted: bool = False,
    description: str = "",
) -> dict:
    """A manifest (paths relative to ``root``) of trainA/trainB pairs in ``k`` folds and testA/testB as the test split.

    Without testA/testB there is no test split. Skipped pairs (``skip_corrupted``) are listed under ``"skipped"``.
    """
    root = Path(root)
    if not (root / "trainA").is_dir() or not (root / "trainB").is_dir():
        raise FileNotFoundError(f"{root}: expected the folders trainA/ and trainB/ (paired volumes, same names).")
    report: dict = {}
    train = paired_items(root, "trainA", "trainB", skip_corrupted, report)
    test = paired_items(root, "testA", "testB", skip_corrupted, report)
    clash = sorted({it[Keys.SUBJECT] for it in train} & {it[Keys.SUBJECT] for it in test})
    if clash:
        raise ValueError(f"{root}: subject(s) both in train and test folders: {', '.join(clash[:5])}.")
    if not train:
        raise ValueError(f"{root}: no usable volume pairs in trainA/ and trainB/.")
    manifest = build_manifest(
        name or root.name,
        train + test,
        k=k,
        seed=seed,
        test_subjects=[it[Keys.SUBJECT] for it in test],
        description=description or f"Paired volumes from {root.name}: condition = A, target = B.",
        modality={Keys.CONDITION.value: "A", Keys.TARGET.value: "B"},
        path_keys=PAIRED_PATH_KEYS,
    )
    if report.get("skipped"):
        manifest["skipped"] = report["skipped"]
    return manifest
