"""PNG figures of a segmentation report: the confusion matrix (row-normalised) and per-class IoU bars.

Drawn from the dict :func:`~monai_pipelines.metrics.segmentation_metrics.segmentation_report` returns (also what
``SegmentationReport.last_report`` and ``segmentation_report.json`` hold), so an evaluation config can call
:func:`plot_segmentation_report` after the evaluator has run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from monai_pipelines.metrics.classification_plots import _figure, _save
from monai_pipelines.utils.dist import is_main_process

__all__ = ["plot_confusion_percent", "plot_per_class_iou", "plot_segmentation_report"]


def _count(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def plot_confusion_percent(report: Mapping[str, Any], path: str | os.PathLike, title: str = "confusion matrix") -> Path:
    """Rows (true classes) normalised to 100%: each cell shows its share of the row and its pixel count."""
    cm = np.asarray(report["confusion_matrix"], dtype=np.int64)
    names = list(report["class_names"])
    share = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig = _figure(1.3 * len(names) + 2.4, 1.1 * len(names) + 1.6)
    ax = fig.add_subplot(1, 1, 1)
    shown = ax.imshow(share * 100, cmap="Blues", vmin=0, vmax=100)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, f"{100 * share[i, j]:.1f}%\n({_count(int(cm[i, j]))})", ha="center", va="center",
                    fontsize=8, color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"{title} (MCC {report['mcc']:.3f})", fontsize=10)
    fig.colorbar(shown, ax=ax, label="% of the true class's pixels")
    fig.tight_layout()
    return _save(fig, path)


def plot_per_class_iou(
    report: Mapping[str, Any], path: str | os.PathLike, baseline: Mapping[str, Any] | None = None,
    labels: tuple[str, str] = ("network", "baseline"), title: str = "IoU per class",
) -> Path:
    """IoU bars per class (value above each bar, support in the tick label); beside them ``baseline``'s if given."""
    names = list(report["class_names"])
    reports = [report] + ([baseline] if baseline is not None else [])
    width = 0.8 / len(reports)
    x = np.arange(len(names))
    fig = _figure(1.3 * len(names) + 2.6, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    for i, (r, label) in enumerate(zip(reports, labels)):
        values = [r["per_class"][n]["iou"] for n in names]
        bars = ax.bar(x + (i - (len(reports) - 1) / 2) * width, values, width,
                      label=f"{label} (mean {r['mean_iou']:.3f})")
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    support = [report["per_class"][n]["support"] for n in names]
    ax.set_xticks(x, [f"{n}\n{_count(int(s))} px" for n, s in zip(names, support)], fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("IoU")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return _save(fig, path)


def plot_segmentation_report(
    report: Mapping[str, Any] | None, output_dir: str | os.PathLike, baseline: Mapping[str, Any] | None = None,
    prefix: str = "",
) -> list[Path]:
    """Write ``{prefix}confusion_matrix.png`` and ``{prefix}per_class_iou.png`` (with ``baseline``'s bars if given)."""
    if report is None:
        raise ValueError("no segmentation report: run the evaluator before plotting it.")
    out = Path(output_dir)
    if not is_main_process():  # the report is gathered over DDP ranks already; drawn once
        return []
    return [plot_confusion_percent(report, out / f"{prefix}confusion_matrix.png"),
            plot_per_class_iou(report, out / f"{prefix}per_class_iou.png", baseline,
                               labels=("network", str((baseline or {}).get("method", "baseline"))))]
