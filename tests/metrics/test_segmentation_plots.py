"""Glacier evaluation figures from a segmentation report: confusion matrix and per-class IoU bars."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from monai_pipelines.metrics import GLACIER_CLASSES, plot_segmentation_report, segmentation_report


def test_writes_both_figures_with_a_baseline(tmp_path):
    report = segmentation_report(np.array([[50, 2, 1, 0], [3, 40, 0, 0], [4, 4, 10, 0], [0, 0, 0, 5]]), GLACIER_CLASSES)
    baseline = segmentation_report(np.array([[45, 8, 0, 0], [5, 38, 0, 0], [9, 9, 0, 0], [5, 0, 0, 0]]), GLACIER_CLASSES)
    paths = plot_segmentation_report(report, tmp_path / "plots", {**baseline, "method": "ndsi"}, prefix="val_")
    assert [p.name for p in paths] == ["val_confusion_matrix.png", "val_per_class_iou.png"]
    for path in paths:
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) > 200


def test_no_report_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="run the evaluator"):
        plot_segmentation_report(None, tmp_path)
