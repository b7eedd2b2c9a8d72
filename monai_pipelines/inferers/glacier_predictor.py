"""Glacier inference: fold checkpoints (run contract: network, bands, band statistics, classes) -> TTA ensemble ->
class GeoTIFF + PNG overlay; and the pretrained network a fine-tuning run starts from.

MONAI's SaveImage writes NIfTI/PNG without GeoTIFF georeferencing; here each input GeoTIFF's bands are chosen by
name, every fold member normalises with its own training statistics (``band_stats`` of its run contract), the
members must agree on bands and classes, and the mask is written with the input's transform and CRS
(:func:`monai_pipelines.data.geotiff.write_mask_geotiff`).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from monai.inferers import Inferer

from monai_pipelines.data.geotiff import read_geotiff, save_overlay_png, write_mask_geotiff
from monai_pipelines.engines.amp import autocast
from monai_pipelines.handlers.training_checkpoint import CONTRACT_KEY, read_checkpoint
from monai_pipelines.networks.partial_load import LoadReport, load_matching_weights
from monai_pipelines.utils.atomic_write import atomic_path, write_json_atomic
from monai_pipelines.utils.errors import InputError

if TYPE_CHECKING:
    from monai_pipelines.bundle.run_contract import RunContract

__all__ = [
    "MEMBER_AGREEMENT",
    "NormalizedNetwork",
    "ensemble_contract",
    "fold_checkpoints",
    "load_fold_members",
    "load_pretrained_network",
    "predict_geotiffs",
]

#: run-contract ids every member of a fold ensemble (and a pretrained start) must share: same inputs, same classes
MEMBER_AGREEMENT = ("bands", "glcm", "glcm_texture", "num_classes", "class_names")

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


def fold_checkpoints(run_dir: str | os.PathLike, ckpt_name: str = "final_model.pt") -> list[Path]:
    """``<run_dir>/fold_<k>/checkpoints/<ckpt_name>`` of every trained fold, in fold order."""
    run_dir = Path(run_dir)
    found = sorted((int(m.group(1)), p) for p in run_dir.glob(f"fold_*/checkpoints/{ckpt_name}")
                   if (m := re.fullmatch(r"fold_(\d+)", p.parent.parent.name)))
    if not found:
        raise FileNotFoundError(f"{run_dir}: no fold_<k>/checkpoints/{ckpt_name} (train a fold first, or give "
                                "ckpt_paths).")
    return [p for _, p in found]


def _paths(ckpt_paths: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    paths = [Path(p) for p in ([ckpt_paths] if isinstance(ckpt_paths, (str, os.PathLike)) else ckpt_paths)]
    if not paths:
        raise FileNotFoundError("no checkpoint given for inference (train a fold first or set ckpt_paths).")
    return paths


def ensemble_contract(
    ckpt_paths: str | os.PathLike | Sequence[str | os.PathLike], agree: Sequence[str] = MEMBER_AGREEMENT
) -> RunContract:
    """The run contract of the first member, once every member's contract agrees with it on ``agree``;
    a disagreement is refused in one line naming both checkpoints."""
    from monai_pipelines.bundle.run_contract import RunContract

    contracts = [RunContract.load(p) for p in _paths(ckpt_paths)]
    first = contracts[0]
    for other in contracts[1:]:
        for key in agree:
            mine, theirs = json.dumps(first.to_dict().get(key)), json.dumps(other.to_dict().get(key))
            if mine != theirs:
                raise InputError(f"fold ensemble members disagree on {key}: {first.source} has {mine}, "
                                 f"{other.source} has {theirs}; ensemble models trained alike.")
    return first


def load_fold_members(
    ckpt_paths: str | os.PathLike | Sequence[str | os.PathLike], device: str | torch.device = "cpu"
) -> list[NormalizedNetwork]:
    """One evaluation-mode member per checkpoint: its run contract's network (with the checkpoint's weights)
    preceded by its own ``band_stats`` normalisation; the members must agree (:func:`ensemble_contract`)."""
    from monai_pipelines.bundle.run_contract import RunContract

    paths = _paths(ckpt_paths)
    ensemble_contract(paths)
    members = []
    for path in paths:
        contract = RunContract.load(path)
        stats = contract["band_stats"]
        members.append(NormalizedNetwork(contract.network(), stats["mean"], stats["std"]).to(device).eval())
    logger.info(f"fold ensemble of {len(members)}: {', '.join(str(p) for p in paths)}")
    return members


def load_pretrained_network(
    network: torch.nn.Module, path: str | os.PathLike, contract: Mapping[str, Any] | None = None
) -> LoadReport:
    """Start fine-tuning from the ``network`` entry of a checkpoint (e.g. pretrain.json's final_model.pt): the
    tensors whose names and shapes fit are loaded; logs from where, what was loaded and what was not (missing,
    unexpected, shape-mismatched keys; a warning when any). When both the checkpoint and ``contract`` (this run's) record them, bands and classes must match.
    """
    path = Path(path)
    recorded = read_checkpoint(path).get(CONTRACT_KEY) or {}
    for key in MEMBER_AGREEMENT:
        if contract is not None and key in recorded and key in contract and \
                json.dumps(recorded[key]) != json.dumps(contract[key]):
            raise InputError(f"pretrained checkpoint {path} was trained with {key} {json.dumps(recorded[key])}, this "
                             f"run uses {json.dumps(contract[key])}: pretrain with the same setting.")
    payload = read_checkpoint(path)
    state = payload.get("network", payload)
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(f"pretrained checkpoint {path} holds no network weights (entries {sorted(payload)}).")
    report = load_matching_weights(network, state)
    line = f"pretrained weights loaded from {path}: {report.summary()}"
    if recorded:
        line += f" (pretrained on bands {recorded.get('bands')}, classes {recorded.get('class_names')})"
    else:
        line += " (the checkpoint records no run contract: bands and classes unchecked)"
    if not report.loaded:
        raise InputError(f"pretrained checkpoint {path}: no tensor fits this network ({report.summary()}).")
    (logger.warning if report.missing or report.unexpected or report.mismatched else logger.info)(line)
    return report


@torch.no_grad()
def predict_geotiffs(
    inputs: Sequence[Mapping[str, Any]],
    members: Sequence[torch.nn.Module],
    bands: Sequence[str],
    output_dir: str | os.PathLike,
    inferer: Inferer,
    device: str | torch.device = "cpu",
    overlay: bool = True,
    band_names: Sequence[str] | None = None,
    save_probabilities: bool = False,
    texture: Callable[[np.ndarray], np.ndarray] | None = None,
    amp: bool = False,
    amp_dtype: str | torch.dtype | None = None,
) -> list[dict[str, str]]:
    """Predict the GeoTIFF (or HKH ``.npy`` slice) ``"image"`` of every item of ``inputs``, each read and checked
    beforehand (``RunContext.inputs``); writes
    ``<name>_mask.tif`` (+ ``_overlay.png``, + ``_probs.npy``: the (C, H, W) float32 ensemble probabilities) and
    ``predictions.json`` listing them into ``output_dir``. ``band_names`` name the bands of files that carry no band
    descriptions; ``texture`` appends the channels training appended after loading (the run contract's GLCM
    texture), before the members normalise. ``amp``/``amp_dtype``: the members compute under autocast, as the
    evaluator does (:func:`monai_pipelines.engines.amp.autocast`)."""
    paths = [Path(item["image"]) for item in inputs]
    out_dir = Path(output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        image, meta = read_geotiff(path, bands=bands, band_names=band_names)
        inputs = texture(image) if texture is not None else image
        with autocast(device, amp, amp_dtype):
            probs = inferer(torch.from_numpy(inputs)[None].to(device), list(members)).float()
        mask = probs.argmax(1)[0].to(torch.uint8).cpu().numpy()
        like = None if meta["transform"] is None else path  # an .npy slice has no georeferencing to copy
        record = {"input": str(path), "mask": str(write_mask_geotiff(mask, out_dir / f"{path.stem}_mask.tif", like))}
        if save_probabilities:
            record["probabilities"] = str(out_dir / f"{path.stem}_probs.npy")
            with atomic_path(record["probabilities"]) as tmp, open(tmp, "wb") as f:
                np.save(f, probs[0].cpu().numpy())
        if overlay:
            record["overlay"] = str(save_overlay_png(image, mask, out_dir / f"{path.stem}_overlay.png"))
        written.append(record)
        logger.info(f"{path.name}: wrote {record['mask']}")
    write_json_atomic(out_dir / "predictions.json", written)
    return written
