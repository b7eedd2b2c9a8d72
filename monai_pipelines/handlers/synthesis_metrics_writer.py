"""Per-subject synthesis metrics in HU (model and an optional baseline), written as CSV + summary JSON.

MONAI's MetricsSaver writes one value per metric per image; synthesis evaluation needs several HU
metrics, whole volume and inside a mask, for the model and a baseline side by side.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from monai.data import decollate_batch
from monai.utils import min_version, optional_import

from monai_pipelines.metrics.hu_metrics import SYNTHRAD_HU_RANGE, hu_metrics
from monai_pipelines.utils.atomic_write import atomic_path, write_json_atomic
from monai_pipelines.utils.dist import gather_shards, is_main_process
from monai_pipelines.utils.enums import Keys

Events, _ = optional_import("ignite.engine", "0.4.11", min_version, "Events")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", "0.4.11", min_version, "Engine")

logger = logging.getLogger("monai_pipelines")


def _columns(rows: list[dict]) -> list[str]:
    """All row keys in first-seen order (a subject without a mask has no ``*_mask`` values)."""
    return list(dict.fromkeys(k for row in rows for k in row))


def _summary(rows: list[dict[str, float]], prefix: str) -> dict[str, dict[str, float]]:
    keys = [k[len(prefix) :] for k in _columns(rows) if k.startswith(prefix)]
    out = {}
    for key in keys:
        values = np.array([row[prefix + key] for row in rows if prefix + key in row], dtype=np.float64)
        out[key] = {"mean": float(values.mean()), "std": float(values.std()), "min": float(values.min()), "max": float(values.max())}
    return out


class SynthesisMetricsWriter:
    """Computes :func:`hu_metrics` per subject at each iteration and writes ``<name>_metrics.csv`` and
    ``<name>_summary.json`` into ``output_dir`` when the evaluator completes.

    Args:
        output_dir: folder for the CSV and JSON (created).
        to_hu: maps network-range images to HU (e.g. ``HUWindowInverse``); identity when outputs already are HU.
        baseline: optional callable image -> prediction in network range (e.g. a fitted ``IntensityLookup``),
            evaluated on the same subjects and reported beside the model.
        name: file name stem, e.g. "test" or "validation".
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        to_hu: Callable | None = None,
        baseline: Callable | None = None,
        pred_key: str = Keys.PRED,
        label_key: str = Keys.LABEL,
        image_key: str = Keys.IMAGE,
        mask_key: str | None = Keys.MASK,
        subject_key: str = Keys.SUBJECT,
        hu_range: tuple[float, float] = SYNTHRAD_HU_RANGE,
        name: str = "test",
    ) -> None:
        self.output_dir = Path(output_dir)
        self.to_hu = to_hu or (lambda x: x)
        self.baseline = baseline
        self.pred_key, self.label_key, self.image_key = pred_key, label_key, image_key
        self.mask_key, self.subject_key = mask_key, subject_key
        self.hu_range = tuple(hu_range)
        self.name = name
        self.rows: list[dict] = []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, self._reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._record)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._write)

    def _reset(self, engine: Engine) -> None:
        self.rows = []

    def _record(self, engine: Engine) -> None:
        batch, output = engine.state.batch, engine.state.output
        batch = batch if isinstance(batch, list) else decollate_batch(batch)
        output = output if isinstance(output, list) else decollate_batch(output)
        for item, out in zip(batch, output):
            label = out.get(self.label_key, item.get(self.label_key))
            mask = item.get(self.mask_key) if self.mask_key else None
            pred_hu, label_hu = self.to_hu(out[self.pred_key]), self.to_hu(label)
            row: dict = {"subject": str(item.get(self.subject_key, len(self.rows)))}
            row.update({f"model_{k}": v for k, v in self._metrics(pred_hu, label_hu, mask).items()})
            if self.baseline is not None:
                base_hu = self.to_hu(self.baseline(item[self.image_key]))
                row.update({f"baseline_{k}": v for k, v in self._metrics(base_hu, label_hu, mask).items()})
            self.rows.append(row)

    def _metrics(self, pred_hu, label_hu, mask) -> dict[str, float]:
        to_np = lambda t: t.detach().cpu().float().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)  # noqa: E731
        m = None if mask is None else to_np(mask) > 0.5
        return hu_metrics(to_np(pred_hu), to_np(label_hu), m, self.hu_range)

    def _write(self, engine: Engine) -> None:
        self.rows = gather_shards(self.rows)  # every subject of every DDP rank, in datalist order
        if not self.rows:
            logger.warning("SynthesisMetricsWriter: no subjects were evaluated.")
            return
        summary = {"subjects": len(self.rows), "hu_range": list(self.hu_range), "model": _summary(self.rows, "model_")}
        if self.baseline is not None:
            summary["baseline"] = _summary(self.rows, "baseline_")
        for key, stats in summary["model"].items():
            engine.state.metrics[key] = stats["mean"]
        if not is_main_process():  # written once
            return
        self.output_dir.mkdir(parents=True, exist_ok=True)
        csv_path = self.output_dir / f"{self.name}_metrics.csv"
        with atomic_path(csv_path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=_columns(self.rows), restval="")
            writer.writeheader()
            writer.writerows(self.rows)
        json_path = self.output_dir / f"{self.name}_summary.json"
        write_json_atomic(json_path, summary)
        line = f"{self.name}: {len(self.rows)} subjects, MAE {summary['model']['mae']['mean']:.1f} HU"
        if self.baseline is not None:
            line += f" (baseline {summary['baseline']['mae']['mean']:.1f} HU)"
        logger.info(f"{line}; wrote {csv_path} and {json_path}")
