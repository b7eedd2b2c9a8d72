"""``loss_log.txt`` as pix2pix writes it: one plain-text line of named losses every ``print_freq`` images."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from monai.utils import min_version, optional_import

from monai_pipelines.handlers.image_frequency import epoch_images, every_n_images
from monai_pipelines.utils.dist import is_main_process

Events, _ = optional_import("ignite.engine", "0.4.11", min_version, "Events")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", "0.4.11", min_version, "Engine")

__all__ = ["LossLogWriter"]

logger = logging.getLogger("monai_pipelines")


def _scalar(value: Any) -> float:
    return float(value.detach().float().mean()) if isinstance(value, torch.Tensor) else float(value)


class LossLogWriter:
    """Appends ``(epoch: E, iters: I, time: T, data: D) NAME: value ...`` lines to a text file (rank 0 only).

    The reference's fields: ``iters`` counts images in the epoch, ``time`` is compute seconds per image and ``data``
    the seconds spent loading the batch; each run starts with a ``==== Training Loss (date) ====`` header, so a
    resumed run appends to the same file.

    Args:
        path: the log file (e.g. ``<run>/loss_log.txt``).
        losses: log name -> key of ``engine.state.output`` (e.g. ``{"G_GAN": "g_adv", "G_L1": "g_rec"}``), or keys
            logged under their own names.
        scales: log name -> factor (pix2pix prints ``G_L1`` times ``lambda_L1``).
        print_freq: images between lines (the reference's ``--print_freq``).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        losses: Mapping[str, str] | Sequence[str],
        scales: Mapping[str, float] | None = None,
        print_freq: int = 100,
    ) -> None:
        self.path = Path(path)
        self.losses = dict(losses) if isinstance(losses, Mapping) else {k: k for k in losses}
        unknown = set(scales or {}) - set(self.losses)
        if unknown:
            raise ValueError(f"scales name losses that are not logged: {sorted(unknown)}.")
        self.scales = {k: float(v) for k, v in (scales or {}).items()}
        self.print_freq = int(print_freq)
        self._times: dict[str, float] = {}

    def attach(self, engine: Engine) -> None:
        if not is_main_process():
            return
        engine.add_event_handler(Events.STARTED, self._header)
        engine.add_event_handler(Events.GET_BATCH_STARTED, self._stamp, "data_start")
        engine.add_event_handler(Events.ITERATION_STARTED, self._stamp, "iteration_start")
        engine.add_event_handler(Events.ITERATION_COMPLETED(event_filter=every_n_images(self.print_freq)), self._line)

    def _stamp(self, engine: Engine, name: str) -> None:
        self._times[name] = time.perf_counter()

    def _header(self, engine: Engine) -> None:
        self._append(f"================ Training Loss ({time.strftime('%c')}) ================")

    def _line(self, engine: Engine) -> None:
        output = engine.state.output
        output = output[0] if isinstance(output, list) and output else output
        if not isinstance(output, Mapping):
            return
        now, batch = time.perf_counter(), max(int(getattr(engine.data_loader, "batch_size", None) or 1), 1)
        start = self._times.get("iteration_start", now)
        compute = (now - start) / batch
        data = max(start - self._times.get("data_start", start), 0.0)
        values = " ".join(f"{name}: {_scalar(output[key]) * self.scales.get(name, 1.0):.3f}"
                          for name, key in self.losses.items() if key in output)
        self._append(f"(epoch: {engine.state.epoch}, iters: {epoch_images(engine)}, time: {compute:.3f}, "
                     f"data: {data:.3f}) {values}")

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:  # a log: appended line by line, like logs/
            f.write(line + "\n")
