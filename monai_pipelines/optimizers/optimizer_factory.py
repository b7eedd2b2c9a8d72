"""An optimizer chosen by name (``--optimizer adam|adamw|sgd``), logged as built, so a run records what it used."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import torch

from monai_pipelines.utils.errors import InputError

__all__ = ["OPTIMIZERS", "build_optimizer"]

logger = logging.getLogger(__name__)

#: name -> torch optimizer class
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD,
}


def build_optimizer(
    name: str, params: Iterable[Any], lr: float, weight_decay: float = 0.0, momentum: float = 0.9,
    nesterov: bool = False, fused: bool | None = None,
) -> torch.optim.Optimizer:
    """``name``'s optimizer over ``params``; ``momentum``/``nesterov`` apply to SGD only. Logs what was built.

    Adam's ``weight_decay`` is the L2 term added to the gradient, AdamW's the decoupled decay. ``fused``: PyTorch's
    fused kernels (None: torch's default implementation).
    """
    key = str(name).lower()
    if key not in OPTIMIZERS:
        raise InputError(f"--optimizer {name!r} is not one of {sorted(OPTIMIZERS)}.")
    kwargs: dict[str, Any] = {"lr": float(lr), "weight_decay": float(weight_decay)}
    if key == "sgd":
        kwargs.update(momentum=float(momentum), nesterov=bool(nesterov))
    if fused is not None:
        kwargs["fused"] = bool(fused)
    optimizer = OPTIMIZERS[key](params, **kwargs)
    logger.info(f"optimizer {key}: {type(optimizer).__name__}(" + ", ".join(f"{k}={v}" for k, v in kwargs.items())
                + ")")
    return optimizer
