"""Per-slice HU metrics and an HTML page of every slice: input, generated, target and both error maps, in HU.

The volume-level numbers come from ``SynthesisMetricsWriter``; pix2pix works on slices, so this one reports each
slice (MAE, RMSE, PSNR, SSIM in HU, CSV) and renders a results page like the reference's ``index.html``. The input
itself is the baseline prediction (identity: average CT as phase-0 CT), so each slice shows what the network adds.
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
from monai_pipelines.utils.atomic_write import atomic_path, write_text_atomic
from monai_pipelines.utils.dist import gather_shards, is_main_process
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


def display_window(*volumes: np.ndarray | None, percentiles: tuple[float, float] = (0.5, 99.5)) -> tuple[float, float]:
    """One grey-level window (HU) that fits all ``volumes`` (a fixed CT window saturates a prediction off-range)."""
    values = np.concatenate([np.asarray(v, dtype=np.float32).ravel() for v in volumes if v is not None])
    values = values[np.isfinite(values)]
    if not values.size:
        return -1000.0, 1000.0
    lo, hi = (float(x) for x in np.percentile(values, percentiles))
    return (lo, hi) if hi > lo else (lo - 1.0, lo + 1.0)


PANEL_PX = 192  # display width of each panel in the page
_GAP_PX = 4


def _panels(image: np.ndarray | None, pred: np.ndarray, label: np.ndarray | None) -> list[tuple[str, np.ndarray, bool]]:
    """(title, slice, is_error) per panel present: input (= baseline), generated, target and both |errors|."""
    panels = [("input (baseline)", image, False), ("generated", pred, False), ("target", label, False)]
    if label is not None:
        panels.append(("|generated - target|", np.abs(pred - label), True))
        if image is not None:
            panels.append(("|input - target| (baseline)", np.abs(image - label), True))
    return [p for p in panels if p[1] is not None]


def _rgb(array: np.ndarray, cmap: str, limits: tuple[float, float]) -> np.ndarray:
    import matplotlib

    lut = (matplotlib.colormaps[cmap](np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)
    lo, hi = limits
    return lut[np.clip((np.asarray(array, np.float32) - lo) / max(hi - lo, 1e-6) * 255, 0, 255).round().astype(int)]


def slice_strip(
    image: np.ndarray | None, pred: np.ndarray, label: np.ndarray | None, window: tuple[float, float],
    error_max: float,
) -> tuple[list[str], np.ndarray]:
    """Panel titles and one RGB row of panels (each ``PANEL_PX`` wide): grey ones in ``window`` (HU), error maps in
    [0, ``error_max``] HU (magma). Drawn with numpy and Pillow: matplotlib took ~1 s per slice, too slow for every
    slice of every volume; the scales are drawn once per volume by :func:`colour_key`."""
    from PIL import Image

    titles, tiles = [], []
    for title, array, is_error in _panels(image, pred, label):
        rgb = _rgb(np.rot90(array), "magma" if is_error else "gray", (0.0, error_max) if is_error else window)
        height = max(1, round(rgb.shape[0] * PANEL_PX / rgb.shape[1]))
        tiles.append(np.asarray(Image.fromarray(rgb).resize((PANEL_PX, height), Image.Resampling.BILINEAR)))
        titles.append(title)
    gap = np.full((tiles[0].shape[0], _GAP_PX, 3), 255, np.uint8)
    row = [part for tile in tiles for part in (tile, gap)][:-1]
    return titles, np.concatenate(row, axis=1)


def colour_key(window: tuple[float, float], error_max: float | None, path: str | os.PathLike) -> Path:
    """A PNG of the page's colour bars: the grey window in HU and, if given, the |error| scale in HU."""
    fig = colour_key_figure(window, error_max)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


def colour_key_figure(window: tuple[float, float], error_max: float | None) -> Any:
    """The colour bars of :func:`colour_key` as a matplotlib Figure on the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    scales = [("gray", window, "HU (input, generated, target)")]
    if error_max is not None:
        scales.append(("magma", (0.0, error_max), "|error| (HU)"))
    fig = Figure(figsize=(4.2 * len(scales), 0.95), dpi=80)
    FigureCanvasAgg(fig)
    for i, (cmap, (lo, hi), label) in enumerate(scales):
        cax = fig.add_axes((0.03 + i / len(scales), 0.55, 0.9 / len(scales), 0.3))
        fig.colorbar(ScalarMappable(Normalize(lo, hi), cmap), cax=cax, orientation="horizontal", label=label)
        cax.tick_params(labelsize=7)
    return fig


def _metric_text(m: dict[str, float] | None) -> str:
    return "" if not m else f"MAE {m['mae']:.1f} HU, RMSE {m['rmse']:.1f} HU, PSNR {m['psnr']:.2f} dB, SSIM {m['ssim']:.4f}"


class SliceReportWriter:
    """On each evaluator iteration: per-slice metrics of the network and of the baseline (the input itself, when a
    target exists), one PNG row of panels per slice and the volume's colour scales; at the end a CSV and
    ``index.html`` showing every slice.

    Args:
        output_dir: where ``<name>_slice_metrics.csv``, ``index.html`` and ``images/`` go.
        image_to_hu: maps the input image to HU (e.g. ``HUWindowInverse`` when it was windowed); pred and label
            are expected in HU already (postprocessing).
        axis: slicing axis of the (X, Y, Z) volume.
        n_slices: slices shown per volume (evenly spaced); None shows every slice.
        max_volumes: volumes rendered on the page (all get metrics).
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        image_to_hu: Callable | None = None,
        axis: int = 2,
        n_slices: int | None = None,
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
            self.add(_name(item, self.image_key, len(self.volumes)), _array(self.image_to_hu(item[self.image_key])),
                     _array(out[self.pred_key]), out.get(self.label_key, item.get(self.label_key)))

    def add(self, name: str, image: np.ndarray, pred: np.ndarray, label: Any = None) -> dict[str, Any]:
        """Record one volume (arrays in HU): metrics per slice and, within ``max_volumes``, its slice images."""
        label = None if label is None or isinstance(label, str) else _array(label)
        if label is not None and label.shape != pred.shape:
            label = None
        if image.shape != pred.shape:
            image = None  # no slice-aligned input: no baseline
        volume: dict[str, Any] = {"name": name, "metrics": None, "baseline": None, "slices": []}
        n = pred.shape[self.axis]
        if label is not None:
            volume["metrics"] = hu_metrics(pred, label, None, self.hu_range)
            if image is not None:
                volume["baseline"] = hu_metrics(image, label, None, self.hu_range)
        for k in range(n):
            row: dict[str, Any] = {"volume": name, "slice": k}
            if label is not None:
                t = np.take(label, k, self.axis)
                row.update(hu_metrics(np.take(pred, k, self.axis), t, None, self.hu_range))
                if image is not None:
                    base = hu_metrics(np.take(image, k, self.axis), t, None, self.hu_range)
                    row.update({f"baseline_{key}": v for key, v in base.items()})
                self.rows.append(row)
            volume["slices"].append(row)
        if self.max_volumes is None or sum(1 for v in self.volumes if v["images"]) < self.max_volumes:
            volume["images"] = self._images(name, image, pred, label)
        else:
            volume["images"] = {}
        self.volumes.append(volume)
        return volume

    def _picks(self, n: int) -> list[int]:
        if self.n_slices is None or self.n_slices >= n:
            return list(range(n))
        return sorted(set(np.linspace(0, n - 1, self.n_slices + 2).round().astype(int)[1:-1].tolist()))

    def _images(self, name: str, image: np.ndarray | None, pred: np.ndarray, label: np.ndarray | None) -> dict:
        from PIL import Image

        window = display_window(image, pred, label)
        error_max = None
        if label is not None:
            errors = [np.abs(pred - label)] + ([np.abs(image - label)] if image is not None else [])
            error_max = max(float(np.percentile(np.concatenate([e.ravel() for e in errors]), 99.5)), 1.0)
        folder = self.output_dir / "images"
        key = colour_key(window, error_max, folder / f"{name}_scale.png")
        images: dict[str, Any] = {"scale": f"images/{key.name}", "slices": {}}
        for k in self._picks(pred.shape[self.axis]):
            image_k, pred_k, label_k = (None if v is None else np.take(v, k, self.axis) for v in (image, pred, label))
            images["titles"], strip = slice_strip(image_k, pred_k, label_k, window, error_max or 1.0)
            path = folder / f"{name}_{k:04d}.png"
            with atomic_path(path) as tmp:
                Image.fromarray(strip).save(tmp, format="PNG")
            images["slices"][k] = f"images/{path.name}"
        return images

    def _write(self, engine: Engine | None = None) -> Path:
        if engine is not None:  # the volumes of every DDP rank, in datalist order; rank 0 writes the page
            self.volumes = gather_shards(self.volumes)
            self.rows = [row for v in self.volumes if v["metrics"] is not None for row in v["slices"]]
        if not is_main_process():
            return self.output_dir / "index.html"
        self.output_dir.mkdir(parents=True, exist_ok=True)
        if self.rows:
            columns = list(dict.fromkeys(k for row in self.rows for k in row))
            with atomic_path(self.output_dir / f"{self.name}_slice_metrics.csv") as tmp, open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=columns, restval="")
                writer.writeheader()
                writer.writerows(self.rows)
        esc = html.escape
        parts = [f"<html><head><meta charset='utf-8'><title>{esc(self.name)}</title>",
                 "<style>body{font-family:sans-serif} td{vertical-align:middle;padding:2px 8px} "
                 "th{text-align:left;font-weight:normal;font-size:small;padding:0 8px}</style></head><body>",
                 f"<h1>{esc(self.name)}: {len(self.volumes)} volumes</h1>",
                 "<p>Baseline: the input itself taken as the output. Per volume, grey panels share one window fitted "
                 "to its values and error maps one scale, both shown as colour bars in HU above its slices.</p>"]
        for v in self.volumes:
            parts.append(f"<h2>{esc(v['name'])}</h2>")
            if v["metrics"]:
                parts.append(f"<p>network: {_metric_text(v['metrics'])}<br>baseline: {_metric_text(v['baseline'])}</p>"
                             if v["baseline"] else f"<p>network: {_metric_text(v['metrics'])}</p>")
            if v["images"]:
                parts.append(f"<p><img src='{v['images']['scale']}' alt='colour scales'></p><table><tr><th></th><th>"
                             + "".join(f"<span style='display:inline-block;width:{PANEL_PX + _GAP_PX}px'>{esc(t)}</span>"
                                       for t in v["images"]["titles"]) + "</th></tr>")
                for k, src in v["images"]["slices"].items():
                    row = v["slices"][k]
                    text = f"MAE {row['mae']:.1f} HU" if "mae" in row else ""
                    if "baseline_mae" in row:
                        text += f"<br>baseline {row['baseline_mae']:.1f} HU"
                    parts.append(f"<tr><td>slice {k}<br>{text}</td>"
                                 f"<td><img src='{src}' alt='{esc(v['name'])} slice {k}'></td></tr>")
                parts.append("</table>")
        parts.append("</body></html>")
        page = write_text_atomic(self.output_dir / "index.html", "\n".join(parts))
        logger.info(f"wrote {page} ({len(self.volumes)} volumes, {len(self.rows)} slices with metrics)")
        return page
