"""Temperature scaling (Guo et al. 2017) fitted on validation logits, and the expected calibration error.

A margin loss (LDAM with scale s) trains logits whose softmax saturates (P = 1e-11 on a real case): the softmax is a
score, not a probability. One temperature T, fitted by minimising the NLL of ``logits / T`` on the validation fold
(LBFGS over log T), makes the probabilities calibrated without changing the predicted class or the binary ROC.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["TemperatureScaling", "expected_calibration_error", "fit_temperature", "TEMPERATURE_KEY"]

logger = logging.getLogger(__name__)

#: checkpoint entry that holds the fitted temperature
TEMPERATURE_KEY = "temperature_scaling"
_BOUNDS = (1e-2, 1e3)


def fit_temperature(logits: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray, max_iter: int = 100) -> float:
    """The temperature T > 0 minimising the NLL of ``softmax(logits / T)`` for ``labels`` (LBFGS over log T),
    clipped to [0.01, 1000] (separable validation data drive T to 0)."""
    z = torch.as_tensor(logits, dtype=torch.float64).detach().cpu().reshape(len(logits), -1)
    y = torch.as_tensor(labels).detach().cpu().reshape(-1).long()
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(z / log_t.clamp(math.log(_BOUNDS[0]), math.log(_BOUNDS[1])).exp(), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(np.clip(math.exp(float(log_t.detach())), *_BOUNDS))


def expected_calibration_error(
    probs: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray, n_bins: int = 15
) -> float:
    """ECE: the sample-weighted mean |accuracy - confidence| over ``n_bins`` equal-width confidence bins
    (confidence = the largest class probability, accuracy = whether its class is the label)."""
    p = np.asarray(torch.as_tensor(probs, dtype=torch.float64).cpu()).reshape(len(probs), -1)
    y = np.asarray(torch.as_tensor(labels).cpu()).reshape(-1)
    confidence, correct = p.max(1), (p.argmax(1) == y).astype(np.float64)
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)  # (k/n, (k+1)/n]
    total = np.bincount(bins, minlength=n_bins)
    gap = np.abs(np.bincount(bins, correct, n_bins) - np.bincount(bins, confidence, n_bins))
    return float(gap.sum() / max(total.sum(), 1))


class TemperatureScaling:
    """``logits / T``: fitted with :meth:`fit` on validation logits, saved in checkpoints (``state_dict``) and applied
    by evaluation and inference (``scaling(logits)``, e.g. as a ``Lambdad`` before the softmax)."""

    def __init__(self, temperature: float = 1.0) -> None:
        self.temperature = float(temperature)
        self.fitted = False

    def fit(self, logits: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray) -> float:
        self.temperature, self.fitted = fit_temperature(logits, labels), True
        return self.temperature

    def __call__(self, logits: Any) -> Any:
        return logits / self.temperature

    def state_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "fitted": self.fitted}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.temperature, self.fitted = float(state["temperature"]), bool(state.get("fitted", True))

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike) -> TemperatureScaling:
        """The temperature a training checkpoint holds (``temperature_scaling``); T = 1 with a warning if none."""
        from monai_pipelines.handlers.training_checkpoint import read_checkpoint

        scaling = cls()
        state = read_checkpoint(path).get(TEMPERATURE_KEY)
        if isinstance(state, Mapping) and "temperature" in state:
            scaling.load_state_dict(state)
            logger.info(f"probabilities calibrated with temperature {scaling.temperature:.4g} from {path}")
        else:
            logger.warning(f"{path} holds no fitted temperature: probabilities are the uncalibrated softmax")
        return scaling
