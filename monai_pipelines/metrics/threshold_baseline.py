"""Per-pixel spectral baseline for glacier maps: NDSI > threshold -> clean ice, everything else background.

The classic snow/ice index rule (Dozier 1989; NDSI = (green - SWIR1) / (green + SWIR1)); it cannot find debris or
lakes, which is why a network is needed. Computed on the same validation items as the network for comparison.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from monai_pipelines.data.geotiff import LoadGeoTIFFd
from monai_pipelines.metrics.segmentation_metrics import GLACIER_CLASSES, confusion_matrix, segmentation_report
from monai_pipelines.utils.atomic_write import write_json_atomic
from monai_pipelines.utils.dist import is_main_process

__all__ = ["ndsi_baseline_report", "write_comparison"]


def ndsi_baseline_report(
    datalist: Sequence[dict],
    threshold: float = 0.4,
    ndsi_band: str = "ndsi",
    band_names: Sequence[str] | None = None,
    num_classes: int = 4,
    output_path: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Segmentation report of the NDSI rule over ``datalist`` (items with image and label paths); optionally saved
    to ``output_path`` (by DDP rank 0 only)."""
    if not datalist:
        raise ValueError("ndsi_baseline_report needs at least one item.")
    load = LoadGeoTIFFd(bands=[ndsi_band], band_names=band_names)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    for item in datalist:
        d = load(dict(item))
        pred = (np.asarray(d["image"][0]) > threshold).astype(np.int64)
        confusion += confusion_matrix(pred, np.asarray(d["label"]), num_classes)
    report = {"method": f"{ndsi_band} > {threshold} -> clean ice", "items": len(datalist),
              **segmentation_report(confusion, GLACIER_CLASSES[:num_classes])}
    if output_path is not None and is_main_process():
        write_json_atomic(output_path, report)
    return report


def write_comparison(path: str | os.PathLike, network_report: dict | None, baseline_report: dict) -> dict[str, Any]:
    """Write both MCCs (and mean IoUs) side by side; returns the record."""
    if network_report is None:
        raise ValueError("no network report: run the evaluator before comparing with the baseline.")
    record = {
        "network_mcc": network_report["mcc"],
        "baseline_ndsi_mcc": baseline_report["mcc"],
        "network_mean_iou": network_report["mean_iou"],
        "baseline_ndsi_mean_iou": baseline_report["mean_iou"],
        "baseline": baseline_report.get("method"),
    }
    if is_main_process():
        write_json_atomic(path, record)
    return record
