"""Per-epoch training history (history.json) and loss/metric/LR curves (PNG), resumable with the checkpoint.

MONAI's MetricsSaver writes only the final evaluator metrics and has no plots; TensorBoard needs a viewer.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Engine, Events
from monai.handlers import from_engine

from monai_pipelines.handlers.training_checkpoint import evaluated_this_epoch
from monai_pipelines.utils.atomic_write import atomic_path
from monai_pipelines.utils.dist import is_main_process

__all__ = ["TrainingHistory", "find_history"]

logger = logging.getLogger(__name__)
_NOT_METRICS = {"epoch", "epoch_time"}


def _number(value: Any) -> float | list | None:
    """A JSON-friendly float (or short list of floats) from a metric value; None for what cannot be plotted."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if isinstance(value, torch.Tensor):
        if value.numel() == 1:
            value = value.item()
        elif value.numel() <= 64:
            return [_number(v) for v in value.flatten().tolist()]
        else:
            return None
    if hasattr(value, "item") and not isinstance(value, (list, tuple)):  # numpy scalars
        try:
            value = value.item()
        except (ValueError, TypeError):
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


_UNITS = {"psnr": ("PSNR", "PSNR (dB)"), "ssim": ("SSIM", "SSIM"), "mae": ("MAE", "mean absolute error"),
          "rmse": ("RMSE", "root mean squared error"), "mse": ("MSE", "mean squared error"),
          "temperature": ("temperature", "softmax temperature T")}
_STAT_NAMES = {"iou": "IoU", "f1": "F1", "precision": "precision", "recall": "recall", "dice": "Dice"}


def _stat(key: str) -> str:
    """The statistic a metric name measures: ``val_iou_lake`` -> ``iou``, ``val_mean_iou`` -> ``iou``."""
    parts = [p for p in key.split("_") if p not in ("val", "train", "mean")]
    return parts[0] if parts else key


def _panels(keys: Sequence[str]) -> list[tuple[str, str, list[str]]]:
    """(title, y-axis label, keys) per panel: a panel never mixes units, per-class statistics get their own."""
    lr = [k for k in keys if k == "lr" or k.startswith("lr_group")]
    losses = [k for k in keys if k not in lr and ("loss" in k.lower() or k.startswith(("train_g_", "train_d_")))]
    rest = [k for k in keys if k not in lr and k not in losses]
    groups: dict[str, list[str]] = {}
    for k in rest:
        groups.setdefault(_stat(k), []).append(k)
    panels = [("loss", "loss", losses)] if losses else []
    scores: list[str] = []
    for stat, ks in groups.items():
        if stat in _UNITS:
            panels.append((_UNITS[stat][0], _UNITS[stat][1], ks))
        elif len(ks) >= 3:  # a per-class statistic (IoU, F1, ... of each class)
            name = _STAT_NAMES.get(stat, stat)
            panels.append((f"{name} per class", name, ks))
        else:
            scores += ks
    if scores:
        panels.insert(1 if losses else 0, ("validation metrics" if any(k.startswith("val_") for k in scores)
                                           else "metrics", "score", scores))
    if lr:
        panels.append(("learning rate", "learning rate", lr))
    return panels


def _legend_label(key: str, panel_keys: Sequence[str]) -> str:
    """The key without what every key of its panel shares (``val_iou_lake`` -> ``lake``, ``val_iou`` -> ``mean``)."""
    stat = _stat(key)
    if len(panel_keys) < 3 or any(_stat(k) != stat for k in panel_keys):
        return key
    rest = key.replace("val_", "", 1).replace("train_", "", 1).replace(f"{stat}", "", 1).strip("_")
    return rest.replace("mean", "").strip("_") or "mean"


def _epoch_axis(ax: Any, epochs: Sequence[int]) -> None:
    """Integer epoch ticks; every epoch labelled on short runs, which also get half an epoch of margin."""
    from matplotlib.ticker import MaxNLocator

    if epochs and epochs[-1] - epochs[0] < 12:
        ax.set_xticks(range(epochs[0], epochs[-1] + 1))
        ax.set_xlim(epochs[0] - 0.5, epochs[-1] + 0.5)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    with atomic_path(path) as tmp:
        write(tmp)


class TrainingHistory:
    """Records one row per epoch (mean train loss, trainer and evaluator metrics, learning rates, epoch time).

    Writes ``history_name`` (JSON list of rows) and ``plot_name`` (panels: losses, other metrics, LR on a log scale)
    under ``output_dir``; both names may contain sub-folders (``metrics/history.json``). Attach it after the
    ValidationHandler so the evaluator's metrics of this epoch exist. Evaluator metrics keep their own names
    (a clash with a trainer metric gets a ``val_`` prefix). ``state_dict`` is the history, so a checkpoint that
    holds this handler lets a resumed run continue the same rows.

    Args:
        trainer_metrics: names in ``trainer.state.metrics`` to record (None: all).
        loss_output_transform: the loss from ``engine.state.output``; default ``from_engine(["loss"], first=True)``.
        optimizer: whose learning rates to record; default ``trainer.optimizer``.
        output_keys: more scalars of ``engine.state.output`` averaged per epoch as ``train_{key}``
            (e.g. a GAN's ``g_loss``, ``d_loss``); a mapping gives each key's output transform (e.g. reads of the
            device that the logging handlers share), else ``from_engine([key], first=True)``.
        plot_every: draw the curves every this many epochs, and at the end of the run (also an early stop).
        plot_interval: but not again within this many seconds of the last drawing or the start (0: no limit); a
            drawing costs seconds, which short epochs would otherwise spend plotting.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        trainer_metrics: Sequence[str] | None = None,
        evaluator: Engine | None = None,
        plot_name: str | None = "training_curves.png",
        history_name: str = "history.json",
        loss_output_transform: Callable[[Any], Any] | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        plot_every: int = 1,
        output_keys: Sequence[str] | Mapping[str, Callable[[Any], Any]] = (),
        plot_interval: float = 30.0,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.trainer_metrics = None if trainer_metrics is None else list(trainer_metrics)
        self.evaluator = evaluator
        self.plot_name = plot_name
        self.history_name = history_name
        self.loss_output_transform = loss_output_transform or from_engine(["loss"], first=True)
        self.optimizer = optimizer
        self.plot_every = max(int(plot_every), 1)
        self.plot_interval = max(float(plot_interval), 0.0)
        self._last_plot = time.monotonic()
        self._plotted_epoch: int | None = None
        self.output_keys = list(output_keys)
        transforms = output_keys if isinstance(output_keys, Mapping) else {}
        self._extra = {k: transforms.get(k) or from_engine([k], first=True) for k in self.output_keys if k != "loss"}
        self.history: list[dict[str, Any]] = []
        self._sums: dict[str, list[float]] = {}
        self._lrs: list[float] = []
        self._epoch_start = time.perf_counter()

    @property
    def history_path(self) -> Path:
        return self.output_dir / self.history_name

    @property
    def plot_path(self) -> Path | None:
        return None if not self.plot_name else self.output_dir / self.plot_name

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self._on_started)
        engine.add_event_handler(Events.EPOCH_STARTED, self._on_epoch_started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._on_iteration_completed)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._on_epoch_completed)
        engine.add_event_handler(Events.COMPLETED, self._on_completed)

    def _on_started(self, engine: Engine) -> None:
        self._last_plot = time.monotonic()

    def _on_epoch_started(self, engine: Engine) -> None:
        self._epoch_start = time.perf_counter()
        length = engine.state.epoch_length
        if length and engine.state.iteration % length:
            return  # an epoch resumed part-way: its sums and learning rates came back with the checkpoint
        self._sums = {}
        optimizer = self._optimizer(engine)
        # the rates this epoch trains at (read after the scheduler step they would be the next epoch's)
        self._lrs = [float(group["lr"]) for group in optimizer.param_groups] if optimizer is not None else []

    def _optimizer(self, engine: Engine) -> torch.optim.Optimizer | None:
        return self.optimizer if self.optimizer is not None else getattr(engine, "optimizer", None)

    def _on_iteration_completed(self, engine: Engine) -> None:
        for name, transform in (("train_loss", self.loss_output_transform), *self._extra.items()):
            try:
                value = _number(transform(engine.state.output))
            except (KeyError, IndexError, TypeError):
                continue
            if isinstance(value, float):
                total = self._sums.setdefault(name if name == "train_loss" else f"train_{name}", [0.0, 0])
                total[0] += value
                total[1] += 1

    def _row(self, engine: Engine) -> dict[str, Any]:
        row: dict[str, Any] = {"epoch": int(engine.state.epoch)}
        for name, (total, count) in self._sums.items():
            row[name] = total / count
        for name, value in engine.state.metrics.items():
            if self.trainer_metrics is None or name in self.trainer_metrics:
                number = _number(value)
                if number is not None:
                    row[name] = number
        evaluator = self.evaluator
        if evaluator is not None and evaluated_this_epoch(evaluator, engine):
            for name, value in evaluator.state.metrics.items():
                number = _number(value)
                if number is not None:
                    row[f"val_{name}" if name in row else name] = number
        for i, lr in enumerate(self._lrs):
            row["lr" if i == 0 else f"lr_group{i}"] = lr
        row["epoch_time"] = time.perf_counter() - self._epoch_start
        return row

    def _on_epoch_completed(self, engine: Engine) -> None:
        row = self._row(engine)
        # a rerun epoch (after a resume from an older checkpoint) replaces its row: every epoch appears once
        self.history = [r for r in self.history if r.get("epoch", 0) < row["epoch"]] + [row]
        if not is_main_process():
            return
        self.write_json()
        due = row["epoch"] % self.plot_every == 0 and time.monotonic() - self._last_plot >= self.plot_interval
        if due or self._last_epoch(engine):
            self._plot_now()

    def _on_completed(self, engine: Engine) -> None:
        """The end of a run (last epoch, early stop, time budget): the drawing shows every epoch."""
        if is_main_process() and self.history and self._plotted_epoch != self.history[-1].get("epoch"):
            self._plot_now()

    def _plot_now(self) -> None:
        if self.plot_path is None:
            return
        try:
            self.plot()
        except Exception as e:  # a plot must never end a training run
            logger.warning("training curves not plotted: %s", e)
        self._last_plot = time.monotonic()
        self._plotted_epoch = self.history[-1].get("epoch") if self.history else None

    @staticmethod
    def _last_epoch(engine: Engine) -> bool:
        return engine.state.max_epochs is not None and engine.state.epoch >= engine.state.max_epochs

    def write_json(self) -> Path:
        def write(tmp: Path) -> None:
            tmp.write_text(json.dumps(self.history, indent=1))

        _write_atomic(self.history_path, write)
        return self.history_path

    def plot(self) -> Path | None:
        """Draw the curves (see :meth:`figure`) into ``plot_path``."""
        fig = self.figure() if self.plot_path is not None else None
        if fig is None:
            return None
        _write_atomic(self.plot_path, lambda tmp: fig.savefig(tmp, format="png"))
        return self.plot_path

    def figure(self) -> Any:
        """The curves as a matplotlib Figure on the Agg canvas (no display, no global pyplot state); None if empty.

        One panel per quantity with its own unit (losses, learning rate, PSNR in dB, SSIM, ...); per-class metrics
        get one panel per statistic; legends sit beside their panel, never over the curves.
        """
        if not self.history:
            return None
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        keys: list[str] = []
        for row in self.history:
            keys += [k for k, v in row.items() if k not in keys and k not in _NOT_METRICS and isinstance(v, float)]
        panels = _panels(keys)
        if not panels:
            return None
        ncols = min(len(panels), 3)
        nrows = math.ceil(len(panels) / ncols)
        fig = Figure(figsize=(5.2 * ncols, 3.3 * nrows), dpi=90, layout="constrained")
        FigureCanvasAgg(fig)
        epochs = sorted({int(r["epoch"]) for r in self.history if "epoch" in r})
        for i, (title, ylabel, ks) in enumerate(panels):
            ax = fig.add_subplot(nrows, ncols, i + 1)
            for k in ks:
                points = [(r["epoch"], r[k]) for r in self.history if isinstance(r.get(k), float)]
                if points:
                    xs, ys = zip(*points)
                    label = _legend_label(k, ks)
                    style = {"color": "black", "linestyle": "--"} if label == "mean" else {}
                    ax.plot(xs, ys, marker="o" if len(points) < 30 else None, markersize=3, label=label, **style)
            if title == "learning rate" and all(r.get(k, 1.0) > 0 for r in self.history for k in ks):
                ax.set_yscale("log")
            _epoch_axis(ax, epochs)
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("epoch")
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
            if len(ks) > 1:  # beside the axes: a legend never hides a curve
                ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)
        return fig

    def state_dict(self) -> dict[str, Any]:
        return {"history": [dict(r) for r in self.history], "sums": {k: list(v) for k, v in self._sums.items()},
                "lrs": list(self._lrs)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.history = [dict(r) for r in state.get("history", [])]
        self._sums = {k: [float(v[0]), int(v[1])] for k, v in (state.get("sums") or {}).items()}
        self._lrs = [float(v) for v in state.get("lrs", [])]


def find_history(engine: Engine) -> TrainingHistory | None:
    """The TrainingHistory attached to ``engine`` (e.g. by TrainingHandlers), or None."""
    for handlers in engine._event_handlers.values():
        for func, *_ in handlers:
            if isinstance(getattr(func, "__self__", None), TrainingHistory):
                return func.__self__
    return None
