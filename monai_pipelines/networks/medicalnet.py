"""Load a local MedicalNet checkpoint (``{'state_dict': {'module.conv1.weight', ...}}``) into a ResNet3D.

MONAI has no MedicalNet loader for arbitrary local files (its ``resnet*(pretrained=True)`` downloads from the hub);
this one reads with ``torch.load(weights_only=True)`` so a checkpoint carrying pickled code is refused, strips the
DataParallel ``module.`` prefix, and loads whatever matches (the classification head never does).
"""

from __future__ import annotations

import logging
import os
import pickle
import re
from pathlib import Path

import torch
from torch import nn

from monai_pipelines.networks.partial_load import LoadReport, load_matching_weights

__all__ = ["LoadReport", "load_medicalnet_weights"]

logger = logging.getLogger("monai_pipelines")


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: MedicalNet checkpoint not found.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        if found is None:
            raise ValueError(f"{path}: not a readable PyTorch checkpoint (weights_only unpickling failed).") from None
        raise ValueError(
            f"{path}: refused to load, the checkpoint holds pickled objects other than tensors ({found.group(1)}); "
            "only plain state dicts are accepted (weights_only=True)."
        ) from None
    except (RuntimeError, EOFError) as e:
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({str(e).splitlines()[0]}).") from None
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected {{'state_dict': {{name: tensor}}}} (MedicalNet format).")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _adapt_conv1(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
    """A 1-channel conv1 kernel spread over ``target``'s input channels (sum preserved), else None."""
    if source.ndim == target.ndim and source.shape[1] == 1 and source.shape[0] == target.shape[0]:
        if source.shape[2:] == target.shape[2:]:
            return source.repeat(1, target.shape[1], *([1] * (source.ndim - 2))) / target.shape[1]
    return None


def load_medicalnet_weights(network: nn.Module, path: str | os.PathLike, strict: bool = False) -> LoadReport:
    """Copy matching MedicalNet weights into ``network``; returns (and logs) loaded/missing/unexpected keys.

    Args:
        strict: raise ``ValueError`` unless every backbone key of the network is loaded (the head may differ).
    """
    path = Path(path)
    source = _read_state_dict(path)
    report = load_matching_weights(
        network, source, adapt=lambda key, value, own: _adapt_conv1(value, own) if key == "conv1.weight" else None)
    head = [k for k in report.missing if k.startswith("fc.")]
    if strict and (len(report.missing) > len(head) or report.mismatched):
        raise ValueError(
            f"{path}: {len(report.missing) - len(head)} backbone keys missing and {len(report.mismatched)} "
            f"mismatched (e.g. {(report.mismatched + report.missing)[:3]}); not a MedicalNet checkpoint for this network."
        )
    logger.info(
        f"MedicalNet weights from {path}: loaded {len(report.loaded)}, missing {len(report.missing)} "
        f"(head: {len(head)}), unexpected {len(report.unexpected)}, shape-mismatched {len(report.mismatched)}"
    )
    if not report.loaded:
        logger.warning(f"{path}: no key matched the network; it keeps its random initialisation.")
    return report
