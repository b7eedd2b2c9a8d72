"""Classification plots: each writes a non-trivial PNG, also for degenerate inputs."""

from __future__ import annotations

import numpy as np
from PIL import Image

from monai_pipelines.metrics.classification_plots import (
    plot_confusion_matrix,
    plot_learning_curves,
    plot_loss_curve,
    plot_pr_curve,
    plot_roc_curve,
)

PROBS = np.array([[0.8, 0.2], [0.4, 0.6], [0.3, 0.7], [0.6, 0.4], [0.1, 0.9]])
LABELS = np.array([0, 0, 1, 1, 1])
HISTORY = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e, "val_auc": 0.5 + 0.1 * e, "lr": 1e-4 / e}
           for e in (1, 2, 3)]


def _is_png(path, min_colours=3):
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape[0] > 100 and image.shape[1] > 100
    assert len(np.unique(image.reshape(-1, 3), axis=0)) >= min_colours  # something was drawn
    assert not list(path.parent.glob(".*tmp*"))  # written atomically, no leftovers


def test_all_plots_written(tmp_path):
    paths = [
        plot_confusion_matrix([[1, 1], [1, 2]], tmp_path / "cm.png", ["LGG", "HGG"]),
        plot_roc_curve(PROBS, LABELS, tmp_path / "roc.png", ["LGG", "HGG"]),
        plot_pr_curve(PROBS, LABELS, tmp_path / "pr.png"),
        plot_loss_curve(HISTORY, tmp_path / "sub" / "loss.png"),
        plot_learning_curves(HISTORY, tmp_path / "learning.png"),
    ]
    for path in paths:
        assert path.is_file()
        _is_png(path, min_colours=10)


def test_degenerate_inputs_still_plot(tmp_path):
    one_class = np.zeros(3, dtype=int)
    _is_png(plot_roc_curve(PROBS[:3], one_class, tmp_path / "roc.png"))
    _is_png(plot_pr_curve(PROBS[:3], one_class, tmp_path / "pr.png"))
    _is_png(plot_loss_curve([{"epoch": 1}], tmp_path / "loss.png"))
    three = np.eye(3)[[0, 1, 2]] * 0.7 + 0.1
    _is_png(plot_roc_curve(three, np.array([0, 1, 2]), tmp_path / "roc3.png", ["a", "b", "c"]))
