"""PNG plots of a classifier's validation: confusion matrix, ROC and PR curves, loss curve, learning curves.

MONAI plots nothing to files. Figures use matplotlib's Agg canvas (no display, no global pyplot state) and are
written atomically (temporary file + rename), so a reader never sees half a PNG.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from monai_pipelines.utils.atomic_write import atomic_path

__all__ = [
    "plot_confusion_matrix",
    "plot_roc_curve",
    "plot_pr_curve",
    "plot_loss_curve",
    "plot_learning_curves",
]


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=90)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


def _one_vs_rest(probs: np.ndarray, labels: np.ndarray, class_names: Sequence[str] | None):
    """(name, binary labels, scores) per curve: class 1 only for binary problems, every class otherwise."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels).reshape(-1).astype(int)
    names = [str(c) for c in (class_names if class_names is not None else range(probs.shape[1]))]
    classes = [1] if probs.shape[1] == 2 else range(probs.shape[1])
    return [(names[c], (labels == c).astype(int), probs[:, c]) for c in classes]


def plot_confusion_matrix(
    matrix: Sequence[Sequence[int]], path: str | os.PathLike, class_names: Sequence[str] | None = None,
    title: str = "confusion matrix",
) -> Path:
    """Counts (rows true, columns predicted) with row-normalised shading."""
    cm = np.asarray(matrix, dtype=np.int64)
    names = [str(c) for c in (class_names if class_names is not None else range(len(cm)))]
    fig = _figure(3.8, 3.4)
    ax = fig.add_subplot(1, 1, 1)
    rows = cm.sum(1, keepdims=True)
    ax.imshow(cm / np.maximum(rows, 1), cmap="Blues", vmin=0, vmax=1)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            share = cm[i, j] / max(rows[i, 0], 1)
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color="white" if share > 0.5 else "black")
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_roc_curve(
    probs: np.ndarray, labels: np.ndarray, path: str | os.PathLike, class_names: Sequence[str] | None = None,
    title: str = "ROC curve",
) -> Path:
    """ROC of the positive class (binary) or of each class against the rest, with AUC in the legend."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig = _figure(3.8, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    for name, truth, score in _one_vs_rest(probs, labels, class_names):
        if truth.min() == truth.max():
            continue  # undefined with one class present
        fpr, tpr, _ = roc_curve(truth, score)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(truth, score):.3f})")
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return _save(fig, path)


def plot_pr_curve(
    probs: np.ndarray, labels: np.ndarray, path: str | os.PathLike, class_names: Sequence[str] | None = None,
    title: str = "precision-recall curve",
) -> Path:
    """Precision-recall of the positive class (binary) or of each class, with average precision in the legend."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig = _figure(3.8, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    for name, truth, score in _one_vs_rest(probs, labels, class_names):
        if truth.max() == 0:
            continue  # no positives: undefined
        precision, recall, _ = precision_recall_curve(truth, score)
        ax.plot(recall, precision, label=f"{name} (AP {average_precision_score(truth, score):.3f})")
        ax.axhline(truth.mean(), linestyle="--", color="grey", linewidth=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return _save(fig, path)


def _legend_beside(ax: Any) -> None:
    """The legend right of the axes, where it hides no curve."""
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)


def _series(history: Sequence[Mapping[str, Any]], key: str) -> tuple[list[int], list[float]]:
    points = [(int(r["epoch"]), float(r[key])) for r in history if isinstance(r.get(key), (int, float))]
    return ([p[0] for p in points], [p[1] for p in points]) if points else ([], [])


def _line(ax: Any, history: Sequence[Mapping[str, Any]], key: str, label: str | None = None) -> bool:
    xs, ys = _series(history, key)
    if xs:
        ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, markersize=3, label=label or key)
    return bool(xs)


def plot_loss_curve(
    history: Sequence[Mapping[str, Any]], path: str | os.PathLike, keys: Sequence[str] = ("train_loss", "val_loss"),
    title: str = "loss",
) -> Path:
    """Loss per epoch (history rows with ``epoch`` and the ``keys``)."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure(4.5, 3.4)
    ax = fig.add_subplot(1, 1, 1)
    drawn = [_line(ax, history, k) for k in keys]
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if any(drawn):
        _legend_beside(ax)
    fig.tight_layout()
    return _save(fig, path)


def plot_learning_curves(
    history: Sequence[Mapping[str, Any]], path: str | os.PathLike, loss_keys: Sequence[str] = ("train_loss", "val_loss"),
    metric_keys: Sequence[str] = ("val_auc", "val_f1", "val_accuracy", "val_precision", "val_recall", "val_ece"),
    lr_key: str = "lr",
) -> Path:
    """Three panels per epoch: losses, validation metrics, learning rate (log scale)."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure(15.0, 3.6)
    panels = (("loss", loss_keys), ("validation metrics", metric_keys), ("learning rate", (lr_key,)))
    ylabels = {"loss": "loss", "validation metrics": "score", "learning rate": "learning rate"}
    for i, (title, keys) in enumerate(panels):
        ax = fig.add_subplot(1, 3, i + 1)
        drawn = [_line(ax, history, k) for k in keys]
        if title == "learning rate" and any(drawn) and all(v > 0 for v in _series(history, lr_key)[1]):
            ax.set_yscale("log")
        if title == "validation metrics":
            ax.set_ylim(-0.02, 1.02)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabels[title])
        ax.grid(alpha=0.3)
        if sum(drawn) > 1:
            _legend_beside(ax)
    fig.tight_layout()
    return _save(fig, path)
