"""Glacier inference: fold checkpoints (network + band statistics) -> TTA ensemble -> class GeoTIFF + PNG overlay.

MONAI's SaveImage writes NIfTI/PNG without GeoTIFF georeferencing; here each input GeoTIFF's bands are chosen by
name, every fold member normalises with its own training statistics, and the mask is written with the input's
transform and CRS (:func:`monai_pipelines.data.geotiff.write_mask_geotiff`).
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from monai.inferers import Inferer

from monai_pipelines.data.geotiff import read_geotiff, save_overlay_png, write_mask_geotiff
from monai_pipelines.handlers.training_checkpoint import load_checkpoint
from monai_pipelines.transforms.band_normalize import BandNormalize
from monai_pipelines.utils.atomic_write import write_json_atomic

__all__ = ["NormalizedNetwork", "load_fold_members", "predict_geotiffs"]

logger = logging.getLogger(__name__)


class NormalizedNetwork(torch.nn.Module):
    """A network preceded by its training fold's per-band z-score normalisation."""

    def __init__(self, network: torch.nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.network = network
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network((x - self.mean) / self.std)


def load_fold_members(
    ckpt_paths: Sequence[str | os.PathLike], network_def: torch.nn.Module, device: str | torch.device = "cpu"
) -> list[NormalizedNetwork]:
    """One evaluation-mode member per checkpoint holding ``network`` and ``normalizer`` entries."""
    paths = [Path(p) for p in ([ckpt_paths] if isinstance(ckpt_paths, (str, os.PathLike)) else ckpt_paths)]
    if not paths:
        raise FileNotFoundError("no checkpoint given for inference (train a fold first or set ckpt_paths).")
    members = []
    for path in paths:
        net = copy.deepcopy(network_def)
        normalizer = BandNormalize([0.0], [1.0])
        load_checkpoint(path, {"network": net, "normalizer": normalizer})
        members.append(NormalizedNetwork(net, normalizer.mean, normalizer.std).to(device).eval())
    return members


def _inputs(input_path: str | os.PathLike) -> list[Path]:
    path = Path(input_path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".tif", ".tiff"))
        if not files:
            raise FileNotFoundError(f"{path}: no .tif files in this folder.")
        return files
    if not path.is_file():
        raise FileNotFoundError(f"{path}: input GeoTIFF not found.")
    return [path]


@torch.no_grad()
def predict_geotiffs(
    input_path: str | os.PathLike,
    members: Sequence[torch.nn.Module],
    bands: Sequence[str],
    output_dir: str | os.PathLike,
    inferer: Inferer,
    device: str | torch.device = "cpu",
    overlay: bool = True,
) -> list[dict[str, str]]:
    """Predict every GeoTIFF at ``input_path`` (file or folder); writes ``<name>_mask.tif`` (+ ``_overlay.png``)
    and ``predictions.json`` listing them into ``output_dir``."""
    out_dir = Path(output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in _inputs(input_path):
        image, _ = read_geotiff(path, bands=bands)
        probs = inferer(torch.from_numpy(image)[None].to(device), list(members))
        mask = probs.argmax(1)[0].to(torch.uint8).cpu().numpy()
        record = {"input": str(path), "mask": str(write_mask_geotiff(mask, out_dir / f"{path.stem}_mask.tif", path))}
        if overlay:
            record["overlay"] = str(save_overlay_png(image, mask, out_dir / f"{path.stem}_overlay.png"))
        written.append(record)
        logger.info(f"{path.name}: wrote {record['mask']}")
    write_json_atomic(out_dir / "predictions.json", written)
    return written
