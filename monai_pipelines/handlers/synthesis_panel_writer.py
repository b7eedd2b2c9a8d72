"""PNG panels of an image-synthesis result: input MRI | predicted CT | (true CT | error map) per subject."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from monai.data import decollate_batch
from monai.utils import min_version, optional_import

from monai_pipelines.utils.atomic_write import atomic_path
from monai_pipelines.utils.dist import is_main_process
from monai_pipelines.utils.enums import Keys

Events, _ = optional_import("ignite.engine", "0.4.11", min_version, "Events")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", "0.4.11", min_version, "Engine")

logger = logging.getLogger("monai_pipelines")


def _volume(x) -> np.ndarray:
    x = x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float32)
    return x[0] if x.ndim == 4 else x


def voxel_spacing(x, default: Sequence[float] | None = None) -> tuple[float, float, float]:
    """Voxel sizes (x, y, z) from a MetaTensor's affine (or its ``meta["pixdim"]``), else ``default`` (else 1 mm)."""
    affine = getattr(x, "affine", None)
    if affine is not None:
        a = np.asarray(affine.detach().cpu() if isinstance(affine, torch.Tensor) else affine, dtype=float)
        if a.ndim == 3:  # batched
            a = a[0]
        if a.ndim == 2 and min(a.shape) >= 3:
            return tuple(float(v) for v in np.linalg.norm(a[:3, :3], axis=0))
    pixdim = (getattr(x, "meta", None) or {}).get("pixdim")
    if pixdim is not None and len(pixdim) >= 4:
        return tuple(float(v) for v in np.asarray(pixdim, dtype=float)[1:4])
    return tuple(float(v) for v in (default if default is not None else (1.0, 1.0, 1.0)))


def panel_slices(volume: np.ndarray, spacing: Sequence[float] = (1.0, 1.0, 1.0)) -> list[tuple[np.ndarray, float]]:
    """Central axial, coronal and sagittal slices of a (x, y, z) RAS volume, oriented for display, each with its
    ``imshow`` aspect (pixel height / width in mm), so anisotropic voxels are not squashed."""
    sx, sy, sz = (float(v) for v in spacing)
    x, y, z = (s // 2 for s in volume.shape)
    return [
        (np.rot90(volume[:, :, z]), sy / sx),
        (np.rot90(volume[:, y, :]), sz / sx),
        (np.rot90(volume[x, :, :]), sz / sy),
    ]


def plot_synthesis_panel(
    path: str | os.PathLike,
    image: np.ndarray,
    pred_hu: np.ndarray,
    target_hu: np.ndarray | None = None,
    title: str = "",
    hu_display: tuple[float, float] = (-1000.0, 1500.0),
    spacing: Sequence[float] | None = None,
) -> Path:
    """Write a grid: rows = axial/coronal/sagittal centre slices; columns = input, prediction, target, |error|.

    Each volume is drawn with its voxel aspect: spacing from its own affine when it is a MetaTensor, else
    ``spacing`` (x, y, z in mm; default isotropic). Row heights follow the physical extent of the slices.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spacings = [voxel_spacing(image, spacing), voxel_spacing(pred_hu, spacing)]
    image, pred_hu = _volume(image), _volume(pred_hu)
    columns = [("input MRI", image, "gray", None), ("predicted CT (HU)", pred_hu, "gray", hu_display)]
    if target_hu is not None:
        spacings.append(voxel_spacing(target_hu, spacings[1]))
        target_hu = _volume(target_hu)
        error = np.abs(pred_hu - target_hu)
        spacings.append(spacings[1])
        columns += [("true CT (HU)", target_hu, "gray", hu_display), ("|error| (HU)", error, "magma", (0, 500))]
    # physical height / width of each row's slices (from the first column) sets the row heights
    ratios = [float(np.clip(sl.shape[0] * aspect / sl.shape[1], 0.2, 5.0)) for sl, aspect in panel_slices(image, spacings[0])]
    fig, axes = plt.subplots(
        3, len(columns), figsize=(3 * len(columns), 3 * sum(ratios)), squeeze=False,
        gridspec_kw={"height_ratios": ratios}, layout="constrained",
    )
    for col, (name, volume, cmap, limits) in enumerate(columns):
        vmin, vmax = limits if limits else np.percentile(volume, [1, 99])
        for row, (slice_, aspect) in enumerate(panel_slices(volume, spacings[col])):
            shown = axes[row, col].imshow(slice_, cmap=cmap, vmin=vmin, vmax=vmax, aspect=aspect)
            axes[row, col].axis("off")
        axes[0, col].set_title(name)
        fig.colorbar(shown, ax=axes[:, col].tolist(), shrink=0.6)
    fig.suptitle(title)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
    return path


class SynthesisPanelWriter:
    """After each evaluator iteration, writes a panel PNG per subject (at most ``max_panels`` per run).

    Expects ``pred`` (and ``label`` when present) already in HU, e.g. after ``HUWindowInversed`` postprocessing.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        max_panels: int | None = None,
        image_key: str = Keys.IMAGE,
        pred_key: str = Keys.PRED,
        label_key: str = Keys.LABEL,
        subject_key: str = Keys.SUBJECT,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.max_panels = max_panels
        self.image_key, self.pred_key, self.label_key, self.subject_key = image_key, pred_key, label_key, subject_key
        self.written: list[Path] = []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, lambda _: self.written.clear())
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        if not is_main_process():  # examples: rank 0's shard
            return
        batch, output = engine.state.batch, engine.state.output
        batch = batch if isinstance(batch, list) else decollate_batch(batch)
        output = output if isinstance(output, list) else decollate_batch(output)
        for item, out in zip(batch, output):
            if self.max_panels is not None and len(self.written) >= self.max_panels:
                return
            name = str(item.get(self.subject_key) or _stem(item.get(self.image_key)) or len(self.written))
            label = out.get(self.label_key, item.get(self.label_key))
            if isinstance(label, str) or (label is not None and tuple(label.shape[-3:]) != tuple(out[self.pred_key].shape[-3:])):
                if label is not None:
                    logger.warning(f"{name}: true CT is on another grid than the prediction; panel without error map.")
                label = None
            path = plot_synthesis_panel(self.output_dir / f"{name}_panel.png", item[self.image_key], out[self.pred_key], label, name)
            self.written.append(path)
            logger.info(f"wrote {path}")


def _stem(image) -> str | None:
    meta = getattr(image, "meta", None) or {}
    filename = meta.get("filename_or_obj")
    if not filename:
        return None
    name = Path(str(filename)).name
    for suffix in (".nii.gz", ".nii", ".gz"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name
