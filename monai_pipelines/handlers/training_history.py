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
from monai_pipelines.utils.dist import is_main_process

__all__ = ["TrainingHistory"]

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


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
            (e.g. a GAN's ``g_loss``, ``d_loss``).
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
        output_keys: Sequence[str] = (),
    ) -> None:
        self.output_dir = Path(output_dir)
        self.trainer_metrics = None if trainer_metrics is None else list(trainer_metrics)
        self.evaluator = evaluator
        self.plot_name = plot_name
        self.history_name = history_name
        self.loss_output_transform = loss_output_transform or from_engine(["loss"], first=True)
        self.optimizer = optimizer
        self.plot_every = max(int(plot_every), 1)
        self.output_keys = list(output_keys)
        self._extra = {k: from_engine([k], first=True) for k in self.output_keys if k != "loss"}
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
        engine.add_event_handler(Events.EPOCH_STARTED, self._on_epoch_started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._on_iteration_completed)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._on_epoch_completed)

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
        if self.plot_path is not None and (row["epoch"] % self.plot_every == 0 or self._last_epoch(engine)):
            try:
                self.plot()
            except Exception as e:  # a plot must never end a training run
                logger.warning("training curves not plotted: %s", e)

    @staticmethod
    def _last_epoch(engine: Engine) -> bool:
        return engine.state.max_epochs is not None and engine.state.epoch >= engine.state.max_epochs

    def write_json(self) -> Path:
        def write(tmp: Path) -> None:
            tmp.write_text(json.dumps(self.history, indent=1))

        _write_atomic(self.history_path, write)
        return self.history_path

    def plot(self) -> Path | None:
        """Draw the curves with matplotlib's Agg canvas (no display, no global pyplot state)."""
        if self.plot_path is None or not self.history:
            return None
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        keys: list[str] = []
        for row in self.history:
            keys += [k for k, v in row.items() if k not in keys and k not in _NOT_METRICS and isinstance(v, float)]
        lr_keys = [k for k in keys if k == "lr" or k.startswith("lr_group")]
        loss_keys = [k for k in keys if "loss" in k.lower() and k not in lr_keys]
        other_keys = [k for k in keys if k not in lr_keys and k not in loss_keys]
        panels = [(t, ks) for t, ks in (("loss", loss_keys), ("metrics", other_keys), ("learning rate", lr_keys)) if ks]
        if not panels:
            return None
        fig = Figure(figsize=(4.5 * len(panels), 3.6), dpi=90)
        fig.subplots_adjust(left=0.7 / (4.5 * len(panels)) + 0.02, right=0.98, bottom=0.14, top=0.9, wspace=0.3)
        FigureCanvasAgg(fig)
        for i, (title, ks) in enumerate(panels):
            ax = fig.add_subplot(1, len(panels), i + 1)
            for k in ks:
                points = [(r["epoch"], r[k]) for r in self.history if isinstance(r.get(k), float)]
                if points:
                    xs, ys = zip(*points)
                    ax.plot(xs, ys, marker="o" if len(points) < 30 else None, markersize=3, label=k)
            if title == "learning rate" and all(r.get(k, 1.0) > 0 for r in self.history for k in ks):
                ax.set_yscale("log")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title(title)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        _write_atomic(self.plot_path, lambda tmp: fig.savefig(tmp, format="png"))
        return self.plot_path

    def state_dict(self) -> dict[str, Any]:
        return {"history": [dict(r) for r in self.history], "sums": {k: list(v) for k, v in self._sums.items()},
                "lrs": list(self._lrs)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.history = [dict(r) for r in state.get("history", [])]
        self._sums = {k: [float(v[0]), int(v[1])] for k, v in (state.get("sums") or {}).items()}
        self._lrs = [float(v) for v in state.get("lrs", [])]
