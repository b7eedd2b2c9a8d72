"""ClassificationReportWriter: the seed's per-fold run structure from a small ignite train/validate loop."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from ignite.engine import Engine, Events

from monai_pipelines.handlers.classification_report_writer import (
    ClassificationReportWriter,
    loss_summary,
    print_probabilities,
)
from monai_pipelines.handlers.early_stopping import EarlyStopping
from monai_pipelines.handlers.training_history import TrainingHistory
from monai_pipelines.metrics.classification_metrics import ClassificationMetrics

LABELS = torch.tensor([0, 1, 1, 1])
# per epoch: P(HGG) of the 4 validation cases; AUC 0.667, 1.0 (best), 0.667
EPOCH_P1 = [[0.5, 0.4, 0.6, 0.7], [0.2, 0.6, 0.7, 0.8], [0.5, 0.6, 0.4, 0.7]]


def _run(tmp_path, epochs=3, selection=True, pass_history=True):
    trainer = Engine(lambda e, b: {"loss": 1.0 / e.state.epoch})
    evaluator = Engine(lambda e, b: {"pred": b[0], "label": b[1]})

    def batches():
        p1 = torch.tensor(EPOCH_P1[trainer.state.epoch - 1])
        return [(torch.log(torch.stack([1 - p1, p1], 1)), LABELS)]

    metric = ClassificationMetrics(["LGG", "HGG"], loss_fn=torch.nn.CrossEntropyLoss())
    metric.attach(evaluator, "val_auc")
    if selection:
        EarlyStopping(trainer, patience=5, min_epochs=1, evaluator=evaluator)  # publishes val_selection
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda _: evaluator.run(batches()))
    history = TrainingHistory(tmp_path / "metrics", evaluator=evaluator, plot_name=None)
    history.attach(trainer)
    writer = ClassificationReportWriter(tmp_path, metric, history=history if pass_history else None,
                                        selection_key="val_selection")
    writer.attach(trainer)
    trainer.run([0, 1], max_epochs=epochs)
    return writer


def test_run_structure_and_final_is_best_epoch(tmp_path):
    writer = _run(tmp_path)
    names = ("loss_curve", "learning_curves", "confusion_matrix", "roc_curve", "pr_curve")
    for name in names:
        assert (tmp_path / "plots" / f"{name}.png").is_file()
        assert all((tmp_path / "plots" / f"{name}_epoch_{e}.png").is_file() for e in (1, 2, 3))
    probs = np.load(tmp_path / "predictions" / "val_probs.npy")
    assert np.allclose(probs[:, 1], EPOCH_P1[1], atol=1e-6)  # the best epoch (AUC 1.0), not the last
    assert np.load(tmp_path / "predictions" / "val_preds.npy").tolist() == [0, 1, 1, 1]
    assert np.load(tmp_path / "predictions" / "val_labels.npy").tolist() == LABELS.tolist()
    doc = json.loads((tmp_path / "metrics" / "metrics.json").read_text())
    assert doc["final"]["epoch"] == 2 and doc["final"]["auc"] == 1.0 and doc["final"]["accuracy"] == 1.0
    assert doc["last"]["epoch"] == 3 and doc["last"]["auc"] == pytest.approx(2 / 3)
    assert doc["final"]["per_class"]["HGG"]["support"] == 3
    assert doc["selection"] == {"by": "val_selection", "best_epoch": 2} and doc["stopped_early"] is False
    assert [r["epoch"] for r in doc["history"]] == [1, 2, 3]
    assert [r["train_loss"] for r in doc["history"]] == pytest.approx([1.0, 0.5, 1 / 3])
    assert doc["loss_summary"]["train_loss"]["min"] == pytest.approx(1 / 3)
    assert doc["loss_summary"]["train_loss"]["mean"] == pytest.approx(np.mean([1, 0.5, 1 / 3]))
    assert doc["loss_summary"]["val_loss"]["epochs"] == 3 and doc["completed"] is True
    assert "val_auc" in (tmp_path / "metrics" / "history.csv").read_text().splitlines()[0]
    state = writer.state_dict()
    other = ClassificationReportWriter(tmp_path, writer.metric)
    other.load_state_dict(state)
    assert other.best["epoch"] == 2 and len(other.rows) == 3
    exported = ClassificationReportWriter.export(writer.metric, tmp_path / "evaluation", "test")
    assert json.loads(exported.read_text())["auc"] == pytest.approx(2 / 3)  # the metric's latest (epoch 3) report
    assert (tmp_path / "evaluation" / "test_roc_curve.png").is_file()
    assert np.load(tmp_path / "evaluation" / "test_labels.npy").tolist() == LABELS.tolist()


def test_without_selection_final_is_last_epoch(tmp_path):
    _run(tmp_path, epochs=2, selection=False)
    doc = json.loads((tmp_path / "metrics" / "metrics.json").read_text())
    assert doc["final"]["epoch"] == 2 and doc["selection"]["by"] == "last epoch"


def test_loss_summary():
    rows = [{"epoch": 1, "train_loss": 2.0}, {"epoch": 2, "train_loss": 4.0, "val_loss": 1.0}]
    summary = loss_summary(rows)
    assert summary["train_loss"] == {"min": 2.0, "max": 4.0, "mean": 3.0, "std": 1.0, "last": 4.0, "epochs": 2}
    assert summary["val_loss"]["epochs"] == 1


def test_history_found_on_the_trainer_when_not_given(tmp_path):
    """With no ``history`` the writer uses the TrainingHistory attached to the trainer (TrainingHandlers')."""
    writer = _run(tmp_path, pass_history=False)
    assert writer.history is not None
    doc = json.loads((tmp_path / "metrics" / "metrics.json").read_text())
    assert [r["train_loss"] for r in doc["history"]] == pytest.approx([1.0, 0.5, 1 / 3])


def test_print_probabilities_adds_the_class_header(tmp_path, capsys):
    csv = tmp_path / "predictions.csv"
    csv.write_text("/in/a.nii.gz,0.25,0.75\n")
    table = print_probabilities(csv, ["LGG", "HGG"])
    assert capsys.readouterr().out == table == "file,P(LGG),P(HGG)\n/in/a.nii.gz,0.25,0.75\n"
    with pytest.raises(FileNotFoundError, match="no predictions"):
        print_probabilities(tmp_path / "missing.csv", ["LGG", "HGG"])
