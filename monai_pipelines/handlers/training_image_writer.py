"""What the generator makes during training, every ``display_freq`` images: TensorBoard images and a web page.

pix2pix shows its visuals (real_A, fake_B, real_B) in Visdom every ``--display_freq`` images and keeps them in
``web/index.html``; this handler does both without a server: TensorBoard images under ``train/<name>`` and
``web/images/epoch{E:03d}_iter{N}_<name>.png`` rows in ``web/index.html``, newest first.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from monai.utils import min_version, optional_import

from monai_pipelines.handlers.image_frequency import every_n_images, images_seen
from monai_pipelines.utils.atomic_write import atomic_path, write_text_atomic
from monai_pipelines.utils.dist import is_main_process

Events, _ = optional_import("ignite.engine", "0.4.11", min_version, "Events")
SummaryWriter, _ = optional_import("torch.utils.tensorboard", name="SummaryWriter")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", "0.4.11", min_version, "Engine")

__all__ = ["TrainingImageWriter", "image_row"]

PAGE_NAME = "index.html"


def image_row(image: torch.Tensor | np.ndarray, value_range: Sequence[float] = (-1.0, 1.0)) -> np.ndarray:
    """A (C, H, W) image as one uint8 (H, C * W) row, channels side by side, ``value_range`` mapped to 0..255 and
    turned a quarter like the slice reports (first array axis across)."""
    array = image.detach().float().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image, np.float32)
    array = array.reshape((-1,) + array.shape[-2:])
    lo, hi = float(value_range[0]), float(value_range[1])
    scaled = np.clip((array - lo) / max(hi - lo, 1e-8), 0.0, 1.0)
    return (np.concatenate([np.rot90(c) for c in scaled], axis=1) * 255).round().astype(np.uint8)


def _fitted_window(images: list[Any]) -> tuple[float, float]:
    values = np.concatenate([np.asarray(x.detach().float().cpu() if isinstance(x, torch.Tensor) else x,
                                        np.float32).ravel() for x in images]) if images else np.zeros(1, np.float32)
    lo, hi = (float(v) for v in np.percentile(values, (0.5, 99.5)))
    return (lo, hi) if hi > lo else (lo - 1.0, lo + 1.0)


class TrainingImageWriter:
    """Every ``display_freq`` training images, the first item of named output batches as images (rank 0 only).

    Args:
        output_dir: the page's folder (``web/``): ``index.html`` and ``images/``.
        images: display name -> key of ``engine.state.output`` (e.g. ``{"real_A": "condition", "fake_B": "pred",
            "real_B": "target"}``); each is drawn as its channels side by side.
        display_freq: images between displays (the reference's ``--display_freq``).
        value_range: network values shown black to white; None (default): a window fitted to each display's images
            together (0.5 / 99.5 percentiles), so soft tissue in a wide CT window is not a flat dark grey.
        log_dir: TensorBoard folder (images under ``train/<name>``); None: the page only.
        max_rows: displays kept on the page (older images are deleted).
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        images: Mapping[str, str],
        display_freq: int = 100,
        value_range: Sequence[float] | None = None,
        log_dir: str | os.PathLike | None = None,
        max_rows: int | None = 100,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.images = dict(images)
        self.display_freq = int(display_freq)
        self.value_range = None if value_range is None else tuple(float(v) for v in value_range)
        self.log_dir = None if log_dir is None else str(log_dir)
        self.max_rows = max_rows
        self.rows: list[dict[str, Any]] = []
        self._writer: Any = None

    def attach(self, engine: Engine) -> None:
        if not is_main_process():
            return
        engine.add_event_handler(Events.ITERATION_COMPLETED(event_filter=every_n_images(self.display_freq)),
                                 self.display)
        engine.add_event_handler(Events.COMPLETED, self.close)

    def display(self, engine: Engine) -> None:
        from PIL import Image

        output = engine.state.output
        batched = not isinstance(output, list)  # MONAI engines may decollate the output into one dict per item
        output = output if batched else (output[0] if output else None)
        if not isinstance(output, Mapping):
            return
        epoch, seen, step = engine.state.epoch, images_seen(engine), engine.state.iteration
        row: dict[str, Any] = {"epoch": epoch, "images_seen": seen, "files": {}}
        shown = {name: output[key][0] if batched else output[key] for name, key in self.images.items() if key in output}
        window = self.value_range or _fitted_window(list(shown.values()))
        for name, value in shown.items():
            picture = image_row(value, window)
            path = self.output_dir / "images" / f"epoch{epoch:03d}_iter{seen}_{name}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                Image.fromarray(picture).save(tmp, format="PNG")
            row["files"][name] = f"images/{path.name}"
            if self.log_dir is not None:
                self._summary_writer().add_image(f"train/{name}", picture[None], step, dataformats="CHW")
        self.rows.insert(0, row)
        for old in self.rows[self.max_rows:] if self.max_rows else []:
            for file in old["files"].values():
                (self.output_dir / file).unlink(missing_ok=True)
        self.rows = self.rows[: self.max_rows] if self.max_rows else self.rows
        self._write_page()
        if self._writer is not None:
            self._writer.flush()

    def state_dict(self) -> dict[str, Any]:
        """The page's rows, so a resumed run keeps the earlier displays on it."""
        return {"rows": self.rows}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.rows = [dict(row) for row in state.get("rows", [])]

    def _summary_writer(self) -> Any:
        if self._writer is None:
            self._writer = SummaryWriter(log_dir=self.log_dir)
        return self._writer

    def _write_page(self) -> Path:
        esc = html.escape
        parts = ["<html><head><meta charset='utf-8'><title>training images</title></head><body>",
                 f"<h2>training images every {self.display_freq} images, newest first</h2>"]
        for row in self.rows:
            parts.append(f"<h3>epoch {row['epoch']}, {row['images_seen']} images seen</h3><table><tr>")
            for name, file in row["files"].items():
                parts.append(f"<td><img src='{esc(file)}' style='height:256px'><br>{esc(name)}</td>")
            parts.append("</tr></table>")
        parts.append("</body></html>")
        return write_text_atomic(self.output_dir / PAGE_NAME, "\n".join(parts))

    def close(self, engine: Engine | None = None) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
