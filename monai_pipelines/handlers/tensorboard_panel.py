"""One validation sample as an image panel in TensorBoard every validation epoch: a row per key, a tile per channel.

The sample is the first item of the evaluator's first batch, so the panels of successive epochs show the same case.
3D images show their middle slice along the last axis; entries that are not images (class labels, logits vectors)
are left out. ``argmax_keys`` turn multi-channel logits into a label map; keys in ``same_range`` share one grey
scale (a prediction next to its target), every other key is scaled to its own range.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from ignite.engine import Engine, Events

__all__ = ["TensorBoardPanel", "panel_image"]


def _entry(output: Any, key: str, index: int) -> Any:
    """``key`` (``#`` for nested entries, e.g. ``pred#100``; MONAI configs turn it into ``::``) of item ``index`` of
    a batch or decollated output."""
    if isinstance(output, (list, tuple)):
        value, batched = output[min(index, len(output) - 1)], False
    else:
        value, batched = output, True
    for part in key.replace("::", "#").split("#"):
        value = value[part]
    return value[index] if batched else value


def _id(key: str) -> str:
    return str(key).replace("::", "#")


def _tiles(value: Any, argmax: bool, max_channels: int) -> list[np.ndarray]:
    """2D float arrays of one item's entry (C, *spatial): one per channel (the label map with ``argmax``)."""
    array = torch.as_tensor(value).detach().float().cpu()
    if array.ndim not in (3, 4):  # a scalar, a vector of logits, or not (C, H, W[, D])
        return []
    if argmax and array.shape[0] > 1:
        array = array.argmax(0, keepdim=True).float()
    if array.ndim == 4:
        array = array[..., array.shape[-1] // 2]
    return [channel.numpy() for channel in array[:max_channels]]


def _scale(tiles: list[np.ndarray], low: float, high: float) -> list[np.ndarray]:
    span = high - low if high > low else 1.0
    return [np.clip((t - low) / span, 0.0, 1.0) for t in tiles]


def panel_image(output: Any, keys: Sequence[str], index: int = 0, argmax_keys: Sequence[str] = (),
                same_range: Sequence[str] = (), max_channels: int = 8, gap: int = 2) -> np.ndarray | None:
    """The panel of item ``index`` of ``output`` as a (H, W) array in [0, 1] (white between and beside tiles), or None
    when no key is an image."""
    rows = {k: _tiles(_entry(output, k, index), k in argmax_keys, max_channels) for k in keys}
    rows = {k: t for k, t in rows.items() if t}
    if not rows:
        return None
    shared = [t for k, tiles in rows.items() if k in same_range for t in tiles]
    scaled = []
    for k, tiles in rows.items():
        group = shared if k in same_range else tiles
        scaled.append(_scale(tiles, min(float(t.min()) for t in group), max(float(t.max()) for t in group)))
    height = max(t.shape[0] for row in scaled for t in row)
    width = max(t.shape[1] for row in scaled for t in row)
    columns = max(len(row) for row in scaled)
    panel = np.ones((len(scaled) * (height + gap) - gap, columns * (width + gap) - gap), np.float32)
    for r, row in enumerate(scaled):
        for c, tile in enumerate(row):
            y, x = r * (height + gap), c * (width + gap)
            panel[y:y + tile.shape[0], x:x + tile.shape[1]] = tile
    return panel


class TensorBoardPanel:
    """Write :func:`panel_image` of the evaluator's first batch to TensorBoard once per evaluator run.

    Args:
        summary_writer: a ``torch.utils.tensorboard.SummaryWriter``.
        keys: the output entries that form the panel, one row each, in order.
        argmax_keys, same_range, max_channels: see :func:`panel_image`.
        tag: the TensorBoard image tag.
        global_step_transform: ``engine -> step``; default the engine's epoch (an evaluator run by MONAI's
            ValidationHandler carries the trainer's epoch).
    """

    def __init__(self, summary_writer: Any, keys: Sequence[str], argmax_keys: Sequence[str] = (),
                 same_range: Sequence[str] = (), max_channels: int = 8, tag: str = "validation/panel",
                 global_step_transform: Callable[[Engine], int] | None = None) -> None:
        self.writer = summary_writer
        self.keys = [_id(k) for k in keys]
        self.argmax_keys = [_id(k) for k in argmax_keys]
        self.same_range = [_id(k) for k in same_range]
        self.max_channels = int(max_channels)
        self.tag = tag
        self.global_step_transform = global_step_transform or (lambda engine: engine.state.epoch)

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._write)

    def _write(self, engine: Engine) -> None:
        if engine.state.iteration != 1 or engine.state.output is None:  # an evaluator's iteration restarts each run
            return
        panel = panel_image(engine.state.output, self.keys, argmax_keys=self.argmax_keys, same_range=self.same_range,
                            max_channels=self.max_channels)
        if panel is not None:
            self.writer.add_image(self.tag, panel, self.global_step_transform(engine), dataformats="HW")
