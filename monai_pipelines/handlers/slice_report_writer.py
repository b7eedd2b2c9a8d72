"""Per-slice HU metrics and an HTML page of input / generated / target slices, for slice-wise volume synthesis.

The volume-level numbers come from ``SynthesisMetricsWriter``; pix2pix works on slices, so this one reports each
slice (MAE, RMSE, PSNR, SSIM in HU, CSV) and renders a results page like the reference's ``index.html``.
"""

from __future__ import annotations

import csv
import html
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from monai.data import decollate_batch
from monai.utils import min_version, optional_import

from monai_pipelines.metrics.hu_metrics import SYNTHRAD_HU_RANGE, hu_metrics
from monai_pipelines.utils.enums import Keys

Events, _ = optional_import("ignite.engine", "0.4.11", min_version, "Events")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", "0.4.11", min_version, "Engine")

logger = logging.getLogger("monai_pipelines")


def _array(x: Any) -> np.ndarray:
    return x.detach().cpu().float().numpy().squeeze() if isinstance(x, torch.Tensor) else np.asarray(x).squeeze()


def _name(item: dict, image_key: str, fallback: int) -> str:
    if item.get(Keys.SUBJECT):
        return str(item[Keys.SUBJECT])
    meta = getattr(item.get(image_key), "meta", None) or {}
    name = Path(str(meta.get("filename_or_obj", f"volume_{fallback}"))).name
    for suffix in (".nii.gz", ".nii"):
        name = name[: -len(suffix)] if name.endswith(suffix) else name
    return name


class SliceReportWriter:
    """On each evaluator iteration: per-slice metrics (when a target exists) and a PNG strip; at the end a CSV and
    ``index.html``.

    Args:
        output_dir: where ``<name>_slice_metrics.csv``, ``index.html`` and ``images/`` go.
        image_to_hu: maps the input image to HU (e.g. ``HUWindowInverse`` when it was windowed); pred and label
            are expected in HU already (postprocessing).
        axis: slicing axis of the (X, Y, Z) volume.
        n_slices: slices shown per volume (evenly spaced).
        max_volumes: volumes rendered on the page (all get metrics).
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        image_to_hu: Callable | None = None,
        axis: int = 2,
        n_slices: int = 4,
        max_volumes: int | None = 20,
        name: str = "test",
        hu_range: tuple[float, float] = SYNTHRAD_HU_RANGE,
        image_key: str = Keys.IMAGE,
        pred_key: str = Keys.PRED,
        label_key: str = Keys.LABEL,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.image_to_hu = image_to_hu or (lambda x: x)
        self.axis, self.n_slices, self.max_volumes, self.name = axis, n_slices, max_volumes, name
        self.hu_range = tuple(hu_range)
        self.image_key, self.pred_key, self.label_key = image_key, pred_key, label_key
        self.rows: list[dict] = []
        self.volumes: list[dict] = []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, self._reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._record)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._write)

    def _reset(self, engine: Engine) -> None:
        self.rows, self.volumes = [], []

    def _record(self, engine: Engine) -> None:
        batch, output = engine.state.batch, engine.state.output
        batch = batch if isinstance(batch, list) else decollate_batch(batch)
        output = output if isinstance(output, list) else decollate_batch(output)
        for item, out in zip(batch, output):
            name = _name(item, self.image_key, len(self.volumes))
            image = _array(self.image_to_hu(item[self.image_key]))
            pred = _array(out[self.pred_key])
            label = out.get(self.label_key, item.get(self.label_key))
            label = None if label is None or isinstance(label, str) else _array(label)
            if label is not None and label.shape != pred.shape:
                label = None
            volume: dict[str, Any] = {"name": name, "metrics": None, "image": None}
            if label is not None:
                volume["metrics"] = hu_metrics(pred, label, None, self.hu_range)
                for k in range(pred.shape[self.axis]):
                    p, t = np.take(pred, k, self.axis), np.take(label, k, self.axis)
                    self.rows.append({"volume": name, "slice": k, **hu_metrics(p, t, None, self.hu_range)})
            if self.max_volumes is None or len([v for v in self.volumes if v["image"]]) < self.max_volumes:
                volume["image"] = self._strip(name, image, pred, label)
            self.volumes.append(volume)

    def _strip(self, name: str, image: np.ndarray, pred: np.ndarray, label: np.ndarray | None) -> str:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        n = pred.shape[self.axis]
        picks = np.unique(np.linspace(0, n - 1, min(self.n_slices, n) + 2).round().astype(int)[1:-1]) if n > 2 else [0]
        cols = [("input", image), ("generated", pred)] + ([("target", label), ("|error|", None)] if label is not None else [])
        fig, axes = plt.subplots(len(picks), len(cols), figsize=(2.6 * len(cols), 2.6 * len(picks)), squeeze=False)
        for r, k in enumerate(picks):
            for c, (title, vol) in enumerate(cols):
                ax = axes[r, c]
                if vol is None:
                    err = np.abs(np.take(pred, k, self.axis) - np.take(label, k, self.axis))
                    ax.imshow(np.rot90(err), cmap="magma", vmin=0, vmax=300)
                else:
                    ax.imshow(np.rot90(np.take(vol, k, self.axis)), cmap="gray", vmin=-1000, vmax=600)
                ax.set_axis_off()
                ax.set_title(f"{title} z={k}" if c == 0 else title, fontsize=8)
        path = self.output_dir / "images" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.tight_layout()
        fig.savefig(path, dpi=80)
        plt.close(fig)
        return f"images/{path.name}"

    def _write(self, engine: Engine) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        if self.rows:
            with open(self.output_dir / f"{self.name}_slice_metrics.csv", "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(self.rows[0]))
                writer.writeheader()
                writer.writerows(self.rows)
        parts = [f"<html><head><meta charset='utf-8'><title>{html.escape(self.name)}</title></head><body>",
                 f"<h1>{html.escape(self.name)}: {len(self.volumes)} volumes</h1>"]
        for v in self.volumes:
            parts.append(f"<h2>{html.escape(v['name'])}</h2>")
            if v["metrics"]:
                m = v["metrics"]
                parts.append(f"<p>MAE {m['mae']:.1f} HU, RMSE {m['rmse']:.1f} HU, PSNR {m['psnr']:.2f} dB, "
                             f"SSIM {m['ssim']:.4f}</p>")
            if v["image"]:
                parts.append(f"<img src='{v['image']}' alt='{html.escape(v['name'])}'>")
        parts.append("</body></html>")
        page = self.output_dir / "index.html"
        page.write_text("\n".join(parts), encoding="utf-8")
        logger.info(f"wrote {page} ({len(self.volumes)} volumes, {len(self.rows)} slices with metrics)")
