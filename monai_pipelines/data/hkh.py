"""HKH glacier-mapping slices (LILA, Microsoft/ICIMOD) -> manifest.

Layout (as published): ``<dataset_dir>/[slices/]slice_<tile>_img_<n>.npy`` (512 x 512 x 15, float) with
``slice_<tile>_mask_<n>.npy`` (512 x 512 x 3; channel 0 all glaciers, 1 clean ice, 2 debris-covered) and an optional
``slices.geojson``. HKH has no lake class: class 3 never occurs in its labels. Slices of one Landsat tile share
a subject (``tile_<tile>``) so that neighbouring, overlapping slices never straddle folds.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from monai_pipelines.data.manifest import build_manifest

__all__ = ["HKH_BANDS", "HKH_CLASSES", "build_hkh_manifest", "find_hkh_slices"]

logger = logging.getLogger(__name__)

# band order of the HKH GeoTIFFs and slices (the real tile's descriptions)
HKH_BANDS = ("B1", "B2", "B3", "B4", "B5", "B6_VCID_1", "B6_VCID_2", "B7", "B8", "BQA",
             "ndvi", "ndsi", "ndwi", "elevation", "slope")
HKH_CLASSES = {"0": "background", "1": "clean_ice", "2": "debris", "3": "lake"}
_IMG = re.compile(r"^slice_(?P<tile>\d+)_img_(?P<n>\d+)\.npy$")


def find_hkh_slices(dataset_dir: str | os.PathLike) -> list[dict]:
    """Items ``{"image", "label", "subject", "tile", "slice"}`` for every image slice with a mask (paths relative)."""
    root = Path(dataset_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: HKH dataset folder not found.")
    items, unlabelled = [], 0
    for path in sorted(root.rglob("slice_*_img_*.npy")):
        m = _IMG.match(path.name)
        if m is None:
            continue
        mask = path.with_name(f"slice_{m['tile']}_mask_{m['n']}.npy")
        if not mask.is_file():
            unlabelled += 1
            continue
        items.append({
            "image": path.relative_to(root).as_posix(),
            "label": mask.relative_to(root).as_posix(),
            "subject": f"tile_{int(m['tile'])}",
            "tile": int(m["tile"]),
            "slice": int(m["n"]),
        })
    if unlabelled:
        logger.warning(f"{root}: {unlabelled} image slice(s) without a mask were left out.")
    if not items:
        raise ValueError(f"{root}: no slice_<tile>_img_<n>.npy with a matching slice_<tile>_mask_<n>.npy found.")
    return items


def build_hkh_manifest(
    dataset_dir: str | os.PathLike, k: int = 5, seed: int = 0, test_fraction: float = 0.15, group_by_tile: bool = True
) -> dict:
    """Manifest of the HKH slices under ``dataset_dir`` (folds by Landsat tile unless ``group_by_tile`` is False)."""
    items = find_hkh_slices(dataset_dir)
    if not group_by_tile:
        for item in items:
            item["subject"] = f"tile_{item['tile']}_slice_{item['slice']}"
    return build_manifest(
        "hkh_glacier_slices",
        items,
        k=k,
        seed=seed,
        test_fraction=test_fraction,
        description="HKH Landsat-7 glacier slices (LILA): 15 bands, clean ice / debris labels",
        modality={"bands": list(HKH_BANDS)},
        labels=HKH_CLASSES,
        label_key=None,
    )
