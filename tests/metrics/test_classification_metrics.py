"""Classification report and its Ignite metric against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from ignite.engine import Engine

from monai_pipelines.losses.ldam_loss import LDAMLoss
from monai_pipelines.metrics.classification_metrics import ClassificationMetrics, classification_report

LABELS = [0, 0, 1, 1, 1, 1]
P1 = [0.2, 0.6, 0.7, 0.4, 0.9, 0.8]  # argmax -> [0, 1, 1, 0, 1, 1]


def _probs():
    return np.stack([1 - np.array(P1), np.array(P1)], 1)


def test_binary_report_hand_computed():
    report = classification_report(_probs(), LABELS, ["LGG", "HGG"])
    assert report["confusion_matrix"] == [[1, 1], [1, 3]]
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["per_class"]["LGG"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert report["per_class"]["HGG"] == {"precision": 0.75, "recall": 0.75, "f1": 0.75, "support": 4}
    assert report["precision"] == report["recall"] == report["f1"] == pytest.approx(0.625)
    assert report["auc"] == pytest.approx(7 / 8)  # 7 of 8 (HGG, LGG) pairs ranked right
    assert report["n"] == 6


def test_multiclass_and_degenerate_cases():
    probs = np.eye(3)[[0, 1, 2, 2]] * 0.8 + 0.2 / 3
    report = classification_report(probs, [0, 1, 2, 1])
    assert report["accuracy"] == 0.75 and report["auc"] == pytest.approx((1.0 + 3 / 4 + 2.5 / 3) / 3)  # one-vs-rest, ties count 1/2
    assert math.isnan(classification_report(_probs()[2:], LABELS[2:])["auc"])  # one class only
    with pytest.raises(ValueError, match="labels must lie"):
        classification_report(_probs(), [0, 0, 1, 1, 1, 2])
    with pytest.raises(ValueError, match="class names"):
        classification_report(_probs(), LABELS, ["a"])


def test_ignite_metric_flattens_results_and_computes_loss():
    logits = torch.log(torch.as_tensor(_probs(), dtype=torch.float32))
    labels = torch.tensor(LABELS)
    loss = LDAMLoss([2, 4])
    batches = [(logits[:4], labels[:4, None]), ([logits[4], logits[5]], [labels[4], labels[5]])]  # batch and list
    engine = Engine(lambda e, b: {"pred": b[0], "label": b[1]})
    metric = ClassificationMetrics(["LGG", "HGG"], loss_fn=loss)
    metric.attach(engine, "val_auc")
    engine.run(batches, max_epochs=1)
    metrics = engine.state.metrics
    assert metrics["val_auc"] == pytest.approx(7 / 8) and metrics["val_f1"] == pytest.approx(0.625)
    assert metrics["val_accuracy"] == pytest.approx(4 / 6)
    assert metrics["val_loss"] == pytest.approx(float(loss(logits, labels)), rel=1e-6)
    assert np.allclose(metric.probs, _probs(), atol=1e-6) and metric.labels.tolist() == LABELS
    assert metric.report["per_class"]["HGG"]["support"] == 4 and metric.computed == 1
