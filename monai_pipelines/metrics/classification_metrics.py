"""Classification report (accuracy, macro P/R/F1, AUC, per-class P/R/F1/support, confusion matrix) from probabilities.

MONAI's ROCAUC and ConfusionMatrixMetric give one figure each and no per-class table; this computes the whole report
once from the validation logits (scikit-learn), so every figure comes from the same predictions, and the Ignite metric
also yields the validation loss (e.g. LDAM with the current DRW weights) on those logits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from ignite.metrics import Metric
from monai.handlers import from_engine

from monai_pipelines.metrics.calibration import TemperatureScaling, expected_calibration_error

__all__ = ["ClassificationMetrics", "classification_report", "CALIBRATION_METRICS", "SUMMARY_METRICS"]

SUMMARY_METRICS = ("accuracy", "precision", "recall", "f1", "auc")
#: reported beside them: ECE (15 bins) of the probabilities, of the raw softmax, and the temperature used
CALIBRATION_METRICS = ("ece", "ece_uncalibrated", "temperature")


def _auc(probs: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(labels)) < 2:
        return math.nan  # undefined with one class present
    if probs.shape[1] == 2:
        return float(roc_auc_score(labels, probs[:, 1]))
    present = np.unique(labels)
    if len(present) < probs.shape[1]:
        return math.nan
    return float(roc_auc_score(labels, probs, multi_class="ovr", average="macro"))


def classification_report(
    probs: np.ndarray | torch.Tensor | Sequence, labels: np.ndarray | torch.Tensor | Sequence,
    class_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Report of class probabilities (N, C) against integer labels (N,); predictions are the argmax.

    Returns ``accuracy``, macro ``precision``/``recall``/``f1``, ``auc`` (binary: of class 1; multi-class: macro
    one-vs-rest; NaN when a class is absent), ``per_class`` {name: precision, recall, f1, support},
    ``confusion_matrix`` (rows true, columns predicted) and ``n``.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    probs = np.asarray(torch.as_tensor(probs, dtype=torch.float64).cpu())
    labels = np.asarray(torch.as_tensor(labels).cpu()).reshape(-1).astype(np.int64)
    if probs.ndim != 2 or probs.shape[0] != labels.shape[0] or probs.shape[0] == 0:
        raise ValueError(f"need probabilities (N, C) and N labels with N > 0, got {probs.shape} and {labels.shape}.")
    n_classes = probs.shape[1]
    names = [str(c) for c in (class_names if class_names is not None else range(n_classes))]
    if len(names) != n_classes:
        raise ValueError(f"{len(names)} class names for {n_classes} classes.")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes - 1}], got {sorted(set(labels.tolist()))}.")
    preds = probs.argmax(1)
    classes = list(range(n_classes))
    p, r, f, s = precision_recall_fscore_support(labels, preds, labels=classes, zero_division=0)
    return {
        "accuracy": float((preds == labels).mean()),
        "precision": float(p.mean()),
        "recall": float(r.mean()),
        "f1": float(f.mean()),
        "auc": _auc(probs, labels),
        "per_class": {
            name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, name in enumerate(names)
        },
        "confusion_matrix": confusion_matrix(labels, preds, labels=classes).tolist(),
        "n": int(len(labels)),
    }


def _stack(items: Any) -> torch.Tensor:
    if isinstance(items, (list, tuple)):
        return torch.stack([torch.as_tensor(i).detach() for i in items])
    return torch.as_tensor(items).detach()


def _gather(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` over DDP ranks, which may hold different numbers of rows (uneven last shards)."""
    from ignite import distributed as idist

    if idist.get_world_size() < 2:
        return tensor
    sizes = idist.all_gather(torch.tensor([tensor.shape[0]])).reshape(-1).cpu()
    longest = int(sizes.max())
    padded = torch.zeros((longest, *tensor.shape[1:]), dtype=tensor.dtype)
    padded[: tensor.shape[0]] = tensor
    gathered = idist.all_gather(padded).cpu()
    return torch.cat([gathered[i * longest : i * longest + int(n)] for i, n in enumerate(sizes)])


class ClassificationMetrics(Metric):
    """Ignite metric over an epoch of logits and labels -> ``{prefix}accuracy/precision/recall/f1/auc/ece/
    ece_uncalibrated/temperature[/loss]``.

    Attach it under one of its own result names (``"val_auc"``, as a MONAI key metric): the results are flattened
    into ``engine.state.metrics``. After each computation ``probs``, ``labels`` and ``report`` (the full
    :func:`classification_report`) hold that epoch's values (gathered over ranks under DDP).

    Args:
        loss_fn: optional loss of (logits, labels), e.g. the training LDAM loss with its current DRW weights.
        logits: the engine's predictions are logits (softmax applied here); False if they are probabilities.
        calibration: temperature scaling applied to the logits before the softmax (probabilities, report, plots);
            the loss still sees the raw logits.
        fit_calibration: refit ``calibration`` on each computation's logits and labels (the validation fold).
    """

    def __init__(
        self,
        class_names: Sequence[str] | None = None,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        prefix: str = "val_",
        logits: bool = True,
        output_transform: Callable | None = None,
        calibration: TemperatureScaling | None = None,
        fit_calibration: bool = False,
    ) -> None:
        if fit_calibration and calibration is None:
            raise ValueError("fit_calibration needs a calibration (TemperatureScaling) to fit.")
        self.calibration = calibration
        self.fit_calibration = fit_calibration
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        self.loss_fn = loss_fn
        self.prefix = prefix
        self.logits = logits
        self.probs: np.ndarray | None = None
        self.labels: np.ndarray | None = None
        self.report: dict[str, Any] | None = None
        self.computed = 0  # how many reports so far (a consumer tells a new validation from an old one)
        transform = output_transform if output_transform is not None else from_engine(["pred", "label"])
        super().__init__(output_transform=transform, metrics_result_mode="flatten")

    def reset(self) -> None:
        self._outputs: list[torch.Tensor] = []
        self._targets: list[torch.Tensor] = []

    def update(self, output: Sequence[Any]) -> None:
        pred, label = output
        pred = _stack(pred).float().cpu()
        self._outputs.append(pred.reshape(pred.shape[0], -1))
        self._targets.append(_stack(label).cpu().reshape(-1).long())

    def compute(self) -> dict[str, float]:
        if not self._outputs:
            raise RuntimeError("ClassificationMetrics needs at least one batch before compute().")
        outputs, targets = torch.cat(self._outputs), torch.cat(self._targets)
        outputs, targets = _gather(outputs), _gather(targets)
        raw = torch.softmax(outputs, 1) if self.logits else outputs
        probs = raw
        if self.calibration is not None and self.logits:
            if self.fit_calibration:
                self.calibration.fit(outputs, targets)
            probs = torch.softmax(self.calibration(outputs.double()), 1).float()
        self.probs, self.labels = probs.numpy(), targets.numpy()
        self.report = classification_report(self.probs, self.labels, self.class_names)
        self.report["ece"] = expected_calibration_error(self.probs, self.labels)
        self.report["ece_uncalibrated"] = expected_calibration_error(raw.numpy(), self.labels)
        self.report["temperature"] = self.calibration.temperature if self.calibration is not None else 1.0
        self.computed += 1
        result = {f"{self.prefix}{k}": self.report[k] for k in (*SUMMARY_METRICS, *CALIBRATION_METRICS)}
        if self.loss_fn is not None and self.logits:
            with torch.no_grad():
                self.report["loss"] = float(self.loss_fn(outputs, targets))
            result[f"{self.prefix}loss"] = self.report["loss"]
        return result
