"""Each slice of each predicted volume as an 8-bit PNG, as the pix2pix guide's ``use_model.py`` saves them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from monai.data import decollate_batch
from monai.utils import min_version, optional_import

from monai_pipelines.handlers.slice_report_writer import _array, _name
from monai_pipelines.utils.atomic_write import atomic_path
from monai_pipelines.utils.enums import Keys

Events, _ = optional_import("ignite.engine", "0.4.11", min_version, "Events")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", "0.4.11", min_version, "Engine")

__all__ = ["SlicePngWriter", "write_slice_pngs"]


def write_slice_pngs(volume: np.ndarray, folder: str | os.PathLike, name: str, axis: int = 2,
                     window: Sequence[float] = (-1024.0, 3071.0)) -> list[Path]:
    """``folder/<name>_<k:04d>.png`` for every slice ``k`` along ``axis``: ``window`` mapped to 0..255, turned a
    quarter as in the slice report."""
    from PIL import Image

    lo, hi = float(window[0]), float(window[1])
    grey = (np.clip((np.asarray(volume, np.float32) - lo) / max(hi - lo, 1e-6), 0.0, 1.0) * 255).round()
    grey = grey.astype(np.uint8)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(grey.shape[axis]):
        path = folder / f"{name}_{k:04d}.png"
        with atomic_path(path) as tmp:
            Image.fromarray(np.ascontiguousarray(np.rot90(np.take(grey, k, axis)))).save(tmp, format="PNG")
        paths.append(path)
    return paths


class SlicePngWriter:
    """Writes ``output_dir/<volume>_slices/<volume>_<k>.png`` for each evaluated volume's ``pred_key``.

    Args:
        output_dir: where the per-volume folders go.
        axis: slicing axis of the (X, Y, Z) volume.
        window: values (e.g. HU) shown black to white.
        enabled: False attaches nothing (a bundle setting such as ``save_slices``).
    """

    def __init__(self, output_dir: str | os.PathLike, axis: int = 2, window: Sequence[float] = (-1024.0, 3071.0),
                 enabled: bool = True, image_key: str = Keys.IMAGE, pred_key: str = Keys.PRED) -> None:
        self.output_dir = Path(output_dir)
        self.axis, self.window, self.enabled = int(axis), tuple(window), bool(enabled)
        self.image_key, self.pred_key = image_key, pred_key

    def attach(self, engine: Engine) -> None:
        if self.enabled:
            engine.add_event_handler(Events.ITERATION_COMPLETED, self._write)

    def _write(self, engine: Engine) -> None:
        batch, output = engine.state.batch, engine.state.output
        batch = batch if isinstance(batch, list) else decollate_batch(batch)
        output = output if isinstance(output, list) else decollate_batch(output)
        for i, (item, out) in enumerate(zip(batch, output)):
            name = _name(item, self.image_key, i)
            write_slice_pngs(_array(out[self.pred_key]), self.output_dir / f"{name}_slices", name, self.axis,
                             self.window)
