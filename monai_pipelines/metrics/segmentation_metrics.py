"""Multi-class segmentation report from a confusion matrix: MCC, per-class IoU / precision / recall / F1.

MONAI's ConfusionMatrixMetric works per class one-vs-rest and has no multi-class MCC (Gorodkin's R_K, as
scikit-learn's ``matthews_corrcoef``); here one K x K confusion matrix is accumulated over an epoch and everything
is derived from it. :class:`SegmentationReport` is the Ignite metric (``val_mcc``, ``val_mean_iou``, ...), built on
Ignite's DDP-synced ConfusionMatrix. The MCC is :func:`mcc_from_confusion`, the formula the MCC loss differentiates
(scikit-learn's ``matthews_corrcoef`` needs the label arrays, not a matrix); ``confusion_matrix`` is the one-shot
version for arrays (the NDSI baseline).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ignite.engine import Engine
from ignite.metrics import ConfusionMatrix
from ignite.metrics.metric import reinit__is_reduced

from monai_pipelines.losses.mcc_loss import mcc_from_confusion
from monai_pipelines.utils.atomic_write import write_json_atomic, write_text_atomic
from monai_pipelines.utils.dist import is_main_process

__all__ = ["GLACIER_CLASSES", "SegmentationReport", "confusion_matrix", "segmentation_report", "stack_pred_label"]

GLACIER_CLASSES = ("background", "clean_ice", "debris", "lake")


def _class_indices(scores: torch.Tensor, dim: int) -> torch.Tensor:
    """The argmax over `dim` (the first maximum on ties, as ``argmax``): ``max(dim).indices``, 12x faster than
    ``argmax`` over the channels of a (32, 4, 64, 64) CPU batch (0.8 vs 9.6 ms: 10 ms of each glacier iteration)."""
    return scores.max(dim=dim).indices


def _to_classes(pred: torch.Tensor | np.ndarray, num_classes: int) -> torch.Tensor:
    """Class indices from logits/probabilities ((C, H, W) or (B, C, H, W) with C == num_classes) or indices."""
    pred = torch.as_tensor(pred)
    channel_dim = {3: 0, 4: 1}.get(pred.ndim)
    if channel_dim is not None and num_classes > 1 and pred.shape[channel_dim] == num_classes:
        return _class_indices(pred, channel_dim)
    return pred.long()


def _confusion_counts(classes: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(K, K) counts of predicted class indices against targets, on their device; targets outside [0, K) ignored."""
    p, t = classes.reshape(-1).long(), torch.as_tensor(target, device=classes.device).reshape(-1).long()
    if p.numel() != t.numel():
        raise ValueError(f"prediction and target sizes differ: {p.numel()} vs {t.numel()} pixels.")
    valid = (t >= 0) & (t < num_classes)
    counts = torch.bincount(t[valid] * num_classes + p[valid].clamp(0, num_classes - 1), minlength=num_classes**2)
    return counts.reshape(num_classes, num_classes)


def confusion_matrix(pred: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) pixel counts, rows true class, columns predicted; labels outside [0, K) (e.g. nodata) are ignored.

    ``pred`` may be class indices or logits/probabilities with a channel dimension (C, H, W) or (B, C, H, W).
    """
    counts = _confusion_counts(_to_classes(pred, num_classes).cpu(), torch.as_tensor(target).cpu(), num_classes)
    return counts.numpy().astype(np.int64)


def segmentation_report(confusion: np.ndarray, class_names: Sequence[str] | None = None) -> dict[str, Any]:
    """MCC, accuracy, per-class IoU/precision/recall/F1 (0 where undefined), their means and the matrix itself."""
    c = np.asarray(confusion, dtype=np.float64)
    names = list(class_names) if class_names is not None else [str(k) for k in range(len(c))]
    tp = np.diag(c)
    support, predicted = c.sum(1), c.sum(0)

    def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.divide(a, b, out=np.zeros_like(a), where=b > 0)

    precision, recall = ratio(tp, predicted), ratio(tp, support)
    iou = ratio(tp, support + predicted - tp)
    f1 = ratio(2 * tp, support + predicted)
    present = support > 0
    report: dict[str, Any] = {
        "mcc": float(mcc_from_confusion(torch.from_numpy(c))),
        "accuracy": float(tp.sum() / max(c.sum(), 1.0)),
        "mean_iou": float(iou[present].mean()) if present.any() else 0.0,
        "mean_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": {
            n: {"iou": float(iou[k]), "precision": float(precision[k]), "recall": float(recall[k]), "f1": float(f1[k]),
                "support": int(support[k])}
            for k, n in enumerate(names)
        },
        "confusion_matrix": c.astype(np.int64).tolist(),
        "class_names": names,
    }
    return report


def stack_pred_label(output: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(pred, label) batches from a MONAI engine's output, decollated (list of dicts) or not: the output transform
    for a batch metric such as Ignite's ``Loss`` (whose own unrolling would hand it one unbatched item at a time)."""
    items = output if isinstance(output, (list, tuple)) else [output]
    if len(items) == 1 and torch.as_tensor(items[0]["pred"]).ndim == 4:  # already a batch
        return torch.as_tensor(items[0]["pred"]), torch.as_tensor(items[0]["label"])
    return torch.stack([torch.as_tensor(o["pred"]) for o in items]), torch.stack([torch.as_tensor(o["label"]) for o in items])


def _batches(output: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(pred, label) batches from MONAI's decollated output (a list of per-item dicts), a trainer's batched output
    (one dict of batches) or a (preds, labels) pair of batches or of per-item lists."""
    if isinstance(output, (list, tuple)) and output and isinstance(output[0], Mapping):
        output = ([o["pred"] for o in output], [o["label"] for o in output])
    elif isinstance(output, Mapping):
        output = (output["pred"], output["label"])
    preds, labels = output
    if isinstance(preds, (list, tuple)):
        return torch.stack([torch.as_tensor(p) for p in preds]), torch.stack([torch.as_tensor(t) for t in labels])
    return torch.as_tensor(preds), torch.as_tensor(labels)


class SegmentationReport(ConfusionMatrix):
    """Ignite metric: Ignite's ConfusionMatrix (accumulated over an epoch, summed over DDP ranks), reported as
    MCC, accuracy and per-class IoU / precision / recall / F1, flattened into ``engine.state.metrics``.

    Attach it under the key metric's name (e.g. ``key_val_metric={"val_mcc": SegmentationReport(...)}``): it sets
    ``{prefix}mcc``, ``{prefix}accuracy``, ``{prefix}mean_iou``, ``{prefix}mean_f1`` and ``{prefix}{iou,precision,
    recall,f1}_{class}``; with ``output_dir`` it also writes the full report (confusion matrix included) to
    ``output_dir/segmentation_report.json`` (latest epoch) and ``segmentation_reports.jsonl`` (one line per epoch);
    rank 0 writes them. Labels outside [0, num_classes) (nodata) are ignored, as Ignite does.

    Args:
        per_class: also flatten the per-class statistics (False: MCC, accuracy, mean IoU and F1 only, e.g. for the
            training batches); the full report keeps them either way.
        output_transform: engine output -> (preds, labels) or per-item dicts; the default reads MONAI's decollated
            or a trainer's batched output. A batch is counted in one pass (class scores (B, C, ...) are argmaxed).
    """

    required_output_keys = ("pred", "label")  # a trainer's batched output dict (MONAI's keys), as Ignite reads it

    def __init__(
        self,
        num_classes: int = 4,
        class_names: Sequence[str] | None = GLACIER_CLASSES,
        prefix: str = "val_",
        output_dir: str | os.PathLike | None = None,
        output_transform: Callable = lambda output: output,
        device: str | torch.device = "cpu",
        per_class: bool = True,
    ) -> None:
        self.per_class = per_class
        self.class_names = list(class_names) if class_names is not None else [str(k) for k in range(num_classes)]
        self.prefix = prefix
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.last_report: dict[str, Any] | None = None
        super().__init__(int(num_classes), output_transform=output_transform, device=device, skip_unrolling=True)
        self._metrics_result_mode = "flatten"

    @reinit__is_reduced
    def update(self, output: Any) -> None:
        preds, labels = _batches(output)
        preds = preds.detach()
        if preds.is_floating_point() and preds.ndim >= 3 and preds.shape[1] == self.num_classes > 1:  # scores
            preds = _class_indices(preds, 1)
        self.confusion_matrix += _confusion_counts(preds, labels, self.num_classes).to(self.confusion_matrix)
        self._num_examples += len(preds)

    def compute(self) -> dict[str, float]:
        report = segmentation_report(super().compute().cpu().numpy(), self.class_names)
        self.last_report = report
        flat = {f"{self.prefix}{k}": report[k] for k in ("mcc", "accuracy", "mean_iou", "mean_f1")}
        for name, stats in report["per_class"].items() if self.per_class else ():
            for stat in ("iou", "precision", "recall", "f1"):
                flat[f"{self.prefix}{stat}_{name}"] = stats[stat]
        return flat

    def completed(self, engine: Engine, name: str) -> None:
        super().completed(engine, name)
        if self.output_dir is not None and self.last_report is not None and is_main_process():
            self.output_dir.mkdir(parents=True, exist_ok=True)
            record = {"epoch": int(getattr(engine.state, "epoch", 0)), **self.last_report}
            write_json_atomic(self.output_dir / "segmentation_report.json", record)
            log = self.output_dir / "segmentation_reports.jsonl"
            previous = log.read_text() if log.is_file() else ""
            write_text_atomic(log, previous + json.dumps(record) + "\n")
