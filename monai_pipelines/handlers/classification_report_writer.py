"""Per-fold classification outputs: per-epoch and final plots, validation predictions and ``metrics.json``.

MONAI's MetricsSaver writes flat metric files and no plots; this writes the seed's run structure from the report that
:class:`monai_pipelines.metrics.ClassificationMetrics` computed at each validation:
``plots/{confusion_matrix,roc_curve,pr_curve,loss_curve,learning_curves}_epoch_X.png`` every validation and the same
names without suffix at the end, ``predictions/val_{probs,preds,labels}.npy`` and ``metrics/metrics.json`` (final
metrics, last-epoch metrics, full per-epoch history, loss summary) plus ``metrics/history.csv``.
"Final" is the selected epoch: the latest epoch at which the evaluator metric ``selection_key`` rose (the improvement
count of :class:`EarlyStopping`: AUC, then F1), else the last validated epoch, so the final figures describe the model
in the best checkpoint (a TrainingCheckpoint with ``key_metric=selection_key, key_metric_mode="max"``).
"""

from __future__ import annotations

import csv
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ignite.engine import Engine, Events

from monai_pipelines.handlers.training_history import find_history
from monai_pipelines.metrics.classification_metrics import CALIBRATION_METRICS, SUMMARY_METRICS, ClassificationMetrics
from monai_pipelines.metrics.classification_plots import (
    plot_confusion_matrix,
    plot_learning_curves,
    plot_loss_curve,
    plot_pr_curve,
    plot_roc_curve,
)
from monai_pipelines.utils.atomic_write import atomic_path, write_json_atomic
from monai_pipelines.utils.dist import is_main_process

__all__ = ["ClassificationReportWriter", "close_file_logs", "file_log_handler", "loss_summary", "print_probabilities"]

logger = logging.getLogger("monai_pipelines")
_PLOTS = ("loss_curve", "learning_curves", "confusion_matrix", "roc_curve", "pr_curve")


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf -> None, numpy/tensors -> Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.generic, torch.Tensor)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file object: np.save would append ".npy" to tmp
        np.save(f, array)


def loss_summary(history: Sequence[dict[str, Any]], keys: Sequence[str] = ("train_loss", "val_loss")) -> dict:
    """min / max / mean / std (population) / last of each loss over the epochs that have it."""
    summary = {}
    for key in keys:
        values = np.array([r[key] for r in history if isinstance(r.get(key), (int, float))], dtype=np.float64)
        if len(values):
            summary[key] = {"min": float(values.min()), "max": float(values.max()), "mean": float(values.mean()),
                            "std": float(values.std()), "last": float(values[-1]), "epochs": int(len(values))}
    return summary


_FILE_HANDLERS: list[logging.FileHandler] = []


def file_log_handler(path: str | os.PathLike, level: int = logging.INFO) -> logging.Handler:
    """A file handler for a run's text log (``logs/train_<time>.log``); :func:`close_file_logs` removes it again.

    On DDP ranks other than 0 a NullHandler: one process writes the log.
    """
    if not is_main_process():
        return logging.NullHandler()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s"))
    _FILE_HANDLERS.append(handler)
    for name in ("monai_pipelines", "ignite.engine.engine.SupervisedTrainer", "ignite.engine.engine.SupervisedEvaluator"):
        named = logging.getLogger(name)
        if named.level == logging.NOTSET or named.level > level:
            named.setLevel(level)  # so INFO records reach the file even when the root logger is at WARNING
    return handler


def close_file_logs() -> None:
    """Detach and close every handler made by :func:`file_log_handler` (end of a run)."""
    while _FILE_HANDLERS:
        handler = _FILE_HANDLERS.pop()
        for logger_ in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
            if isinstance(logger_, logging.Logger) and handler in logger_.handlers:
                logger_.removeHandler(handler)
        handler.close()


def print_probabilities(path: str | os.PathLike, class_names: Sequence[str]) -> str:
    """Print (and return) a headerless ``file,p0,p1,...`` CSV (MONAI's ClassificationSaver) with a header
    ``file,P(<class>),...``: what classification inference shows its user."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no predictions were written (was any image found?).")
    table = "file," + ",".join(f"P({name})" for name in class_names) + "\n" + path.read_text()
    print(table, end="" if table.endswith("\n") else "\n")
    return table


class ClassificationReportWriter:
    """Attach to the trainer after the ValidationHandler and TrainingHistory (it reads both at epoch end).

    Args:
        output_dir: the run folder (``plots/``, ``predictions/``, ``metrics/`` are created in it).
        metric: the evaluator's ClassificationMetrics (its ``report``/``probs``/``labels`` of the latest validation).
        history: TrainingHistory whose rows (train loss, val metrics, lr) feed the curves and ``metrics.json``;
            None: the one attached to the trainer (TrainingHandlers attaches one).
        selection_key: evaluator metric that rises when the selection criterion improves; None or absent: the
            last validated epoch is final.
        per_epoch_plots: write the ``*_epoch_X.png`` plots every ``plot_every`` validations (final ones always).
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        metric: ClassificationMetrics,
        history: Any | None = None,
        selection_key: str | None = "val_selection",
        class_names: Sequence[str] | None = None,
        per_epoch_plots: bool = True,
        plot_every: int = 1,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.metric = metric
        self.history = history
        self.selection_key = selection_key
        self._best_selection: float | None = None
        self.class_names = list(class_names) if class_names is not None else metric.class_names
        self.per_epoch_plots = per_epoch_plots
        self.plot_every = max(int(plot_every), 1)
        self.rows: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None
        self.last: dict[str, Any] | None = None
        self._seen_report: int | None = None

    # paths
    @property
    def metrics_path(self) -> Path:
        return self.output_dir / "metrics" / "metrics.json"

    def plot_path(self, name: str, epoch: int | None = None) -> Path:
        return self.output_dir / "plots" / (f"{name}.png" if epoch is None else f"{name}_epoch_{epoch}.png")

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._on_epoch_completed)
        engine.add_event_handler(Events.COMPLETED, self._on_completed)

    # events
    def _on_epoch_completed(self, engine: Engine) -> None:
        if self.history is None:
            self.history = find_history(engine)
        report = self.metric.report
        if report is None or self.metric.computed == self._seen_report:
            return  # no validation this epoch
        self._seen_report = self.metric.computed
        epoch = int(engine.state.epoch)
        record = {"epoch": epoch, "report": _clean(report), "probs": self.metric.probs.tolist(),
                  "labels": self.metric.labels.tolist()}
        self.last = record
        self.rows = [r for r in self.rows if r["epoch"] < epoch] + [self._row(engine, report)]
        row = self.rows[-1]
        selection = row.get(self.selection_key) if self.selection_key else None
        if not isinstance(selection, (int, float)):
            self.best = record
        elif self._best_selection is None or selection > self._best_selection:
            self.best, self._best_selection = record, float(selection)
        logger.info(f"epoch {epoch}: " + " ".join(
            f"{k} {v:.6f}" for k, v in row.items() if k != "epoch" and isinstance(v, float)))
        if not is_main_process():
            return
        self.write_metrics(engine)
        if self.per_epoch_plots and epoch % self.plot_every == 0:
            self._plots(record, epoch)

    def _on_completed(self, engine: Engine) -> None:
        if not is_main_process():
            return
        if self.best is None:
            logger.warning("no validation ran: no final classification report written")
            return
        self._plots(self.best, None)
        self.write_predictions(self.best)
        self.write_metrics(engine, completed=True)
        logger.info(f"final (epoch {self.best['epoch']}) metrics: "
                    + " ".join(f"{k} {self.best['report'][k]}" for k in (*SUMMARY_METRICS, *CALIBRATION_METRICS)
                               if k in self.best["report"]) + f" -> {self.metrics_path}")

    # writing
    def _row(self, engine: Engine, report: dict[str, Any]) -> dict[str, Any]:
        row: dict[str, Any] = {"epoch": int(engine.state.epoch)}
        rows = getattr(self.history, "history", None) or []
        if rows and rows[-1].get("epoch") == engine.state.epoch:
            row.update({k: v for k, v in rows[-1].items() if isinstance(v, (int, float)) and k != "epoch"})
        prefix = self.metric.prefix
        for key in (*SUMMARY_METRICS, *CALIBRATION_METRICS, "loss"):
            if key in report and isinstance(report[key], float):
                row[f"{prefix}{key}"] = report[key]
        return row

    def _plots(self, record: dict[str, Any], epoch: int | None) -> None:
        probs, labels, report = np.asarray(record["probs"]), np.asarray(record["labels"]), record["report"]
        suffix = f" (epoch {record['epoch']})"
        try:
            plot_loss_curve(self.rows, self.plot_path("loss_curve", epoch), title="loss" + suffix)
            plot_learning_curves(self.rows, self.plot_path("learning_curves", epoch))
            plot_confusion_matrix(report["confusion_matrix"], self.plot_path("confusion_matrix", epoch),
                                  self.class_names, title="confusion matrix" + suffix)
            plot_roc_curve(probs, labels, self.plot_path("roc_curve", epoch), self.class_names, "ROC" + suffix)
            plot_pr_curve(probs, labels, self.plot_path("pr_curve", epoch), self.class_names, "PR" + suffix)
        except Exception as e:  # a plot must never end a training run
            logger.warning(f"classification plots not written: {e}")

    def write_predictions(self, record: dict[str, Any]) -> None:
        folder = self.output_dir / "predictions"
        folder.mkdir(parents=True, exist_ok=True)
        probs = np.asarray(record["probs"], dtype=np.float32)
        _save_npy(folder / "val_probs.npy", probs)
        _save_npy(folder / "val_preds.npy", probs.argmax(1).astype(np.int64))
        _save_npy(folder / "val_labels.npy", np.asarray(record["labels"], dtype=np.int64))

    def write_metrics(self, engine: Engine | None = None, completed: bool = False) -> Path:
        by = self.selection_key if self._best_selection is not None else "last epoch"
        document = {
            "final": None if self.best is None else {"epoch": self.best["epoch"], **self.best["report"]},
            "last": None if self.last is None else {"epoch": self.last["epoch"], **self.last["report"]},
            "selection": {"by": by, "best_epoch": None if self.best is None else self.best["epoch"]},
            "class_names": self.class_names,
            "history": self.rows,
            "loss_summary": loss_summary(self.rows, ("train_loss", f"{self.metric.prefix}loss")),
            "epochs_run": None if engine is None else int(engine.state.epoch),
            "max_epochs": None if engine is None else engine.state.max_epochs,
            "completed": completed,
            "stopped_early": bool(completed and engine is not None and engine.state.max_epochs is not None
                                  and engine.state.epoch < engine.state.max_epochs),
        }
        write_json_atomic(self.metrics_path, _clean(document), indent=1)
        self._write_csv()
        return self.metrics_path

    def _write_csv(self) -> None:
        keys: list[str] = []
        for row in self.rows:
            keys += [k for k in row if k not in keys]
        path = self.metrics_path.with_name("history.csv")
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(_clean(self.rows))

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "best": self.best, "last": self.last, "best_selection": self._best_selection}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rows = [dict(r) for r in state.get("rows", [])]
        self.best, self.last = state.get("best"), state.get("last")
        self._best_selection = state.get("best_selection")

    @staticmethod
    def export(metric: ClassificationMetrics, output_dir: str | os.PathLike, name: str = "val") -> Path:
        """Write the metric's latest report (``{name}_metrics.json``), predictions and CM/ROC/PR plots (evaluation)."""
        if metric.report is None:
            raise ValueError("no evaluation ran: nothing to export.")
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        probs, labels = metric.probs, metric.labels
        _save_npy(out / f"{name}_probs.npy", probs.astype(np.float32))
        _save_npy(out / f"{name}_preds.npy", probs.argmax(1).astype(np.int64))
        _save_npy(out / f"{name}_labels.npy", labels.astype(np.int64))
        names = metric.class_names
        plot_confusion_matrix(metric.report["confusion_matrix"], out / f"{name}_confusion_matrix.png", names)
        plot_roc_curve(probs, labels, out / f"{name}_roc_curve.png", names)
        plot_pr_curve(probs, labels, out / f"{name}_pr_curve.png", names)
        path = out / f"{name}_metrics.json"
        write_json_atomic(path, _clean({"class_names": names, **metric.report}), indent=1)
        logger.info(f"{name}: " + " ".join(f"{k} {metric.report[k]:.4f}" for k in (*SUMMARY_METRICS, *CALIBRATION_METRICS)
                                            if k in metric.report) + f" -> {path}")
        return path
