"""The glacier document's per-epoch log: train and validation loss / MCC / mean IoU and the per-class table.

MONAI's StatsHandler prints every metric as one flat ``name: value`` list; the document's users read (and paste)
this block instead::

    Epoch 59/60
    Train: train_loss: 0.2134 | train_mcc: 0.7421 | train_mean_iou: 0.7142
    Val:   val_loss: 0.2456 | val_mcc: 0.7612 | val_mean_iou: 0.7234
    Per-class metrics:
    Class           IoU   Prec  Recall     F1
    background   0.8234 0.8712 0.9123 0.8912
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from ignite.engine import Engine, Events

from monai_pipelines.handlers.training_history import TrainingHistory, find_history
from monai_pipelines.metrics.segmentation_metrics import SegmentationReport
from monai_pipelines.utils.dist import is_main_process

__all__ = ["SegmentationEpochLog", "format_epoch_block"]

logger = logging.getLogger(__name__)

TRAIN_KEYS = ("train_loss", "train_mcc", "train_mean_iou")
VAL_KEYS = ("val_loss", "val_mcc", "val_mean_iou")


def _line(row: Mapping[str, Any], keys: Sequence[str]) -> str:
    return " | ".join(f"{k}: {row[k]:.4f}" if isinstance(row.get(k), (int, float)) else f"{k}: -" for k in keys)


def format_epoch_block(epoch: int, max_epochs: int | None, row: Mapping[str, Any],
                       report: Mapping[str, Any] | None) -> str:
    """The document's block for one epoch from a history row and the validation report (None: no validation)."""
    lines = [f"Epoch {epoch}/{max_epochs if max_epochs is not None else '?'}", "Train: " + _line(row, TRAIN_KEYS)]
    if report is not None:
        width = max(12, *(len(n) + 1 for n in report["per_class"]))
        lines += ["Val:   " + _line(row, VAL_KEYS), "Per-class metrics:",
                  f"{'Class':<{width}}{'IoU':>7}{'Prec':>7}{'Recall':>7}{'F1':>7}"]
        for name, s in report["per_class"].items():
            lines.append(f"{name:<{width}}" + "".join(f"{s[k]:>7.4f}" for k in ("iou", "precision", "recall", "f1")))
    return "\n".join(lines)


class SegmentationEpochLog:
    """Logs :func:`format_epoch_block` at the end of every epoch (rank 0).

    Attach it to the trainer after TrainingHandlers (its history row and the validation of the epoch exist then).

    Args:
        report: the evaluator's SegmentationReport (its ``last_report`` gives the per-class table).
        history: the TrainingHistory whose row holds train_loss, the trainer's train_* metrics and the evaluator's;
            None: the one attached to the trainer.
    """

    def __init__(self, report: SegmentationReport, history: TrainingHistory | None = None) -> None:
        self.report = report
        self.history = history
        self.last_block: str | None = None

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        history = self.history if self.history is not None else find_history(engine)
        rows = getattr(history, "history", None) or []
        if not rows or rows[-1].get("epoch") != engine.state.epoch:
            return
        validated = isinstance(rows[-1].get("val_mcc"), (int, float))
        self.last_block = format_epoch_block(engine.state.epoch, engine.state.max_epochs, rows[-1],
                                             self.report.last_report if validated else None)
        if is_main_process():
            logger.info("\n" + self.last_block)
