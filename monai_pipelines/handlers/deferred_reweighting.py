"""Deferred re-weighting (DRW, Cao et al. 2019): per-class loss weights switched on from a given epoch.

MONAI has no epoch-scheduled class re-weighting. Epochs are Ignite's, 1-based: with ``start_epoch=15`` epochs 1-14
train unweighted and the weights apply from the start of epoch 15 on (the same as ``epoch >= 14`` in a 0-based loop).
Rules: ``"sqrt_inverse"`` (the seed's, default) w_j = sqrt(n_max / n_j), so the majority class keeps weight 1;
``"effective_number"`` (the official LDAM-DRW code) w_j = (1 - beta) / (1 - beta^n_j), normalised to sum to the
number of classes. With beta = 0.9999 and small counts the latter is close to inverse frequency, i.e. much stronger.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from ignite.engine import Engine, Events

__all__ = ["DeferredReweighting", "class_counts", "drw_weights"]

logger = logging.getLogger("monai_pipelines")
RULES = ("sqrt_inverse", "effective_number")


def class_counts(datalist: Sequence[Mapping[str, Any]], num_classes: int, key: str = "label") -> list[int]:
    """Items per class ``0..num_classes-1`` of a datalist (its integer ``key`` entries): the counts LDAM and DRW use."""
    counts = [0] * int(num_classes)
    for item in datalist:
        label = int(item[key])
        if not 0 <= label < num_classes:
            raise ValueError(f"{item.get('subject', item)}: {key} {label} is not a class index 0..{num_classes - 1}.")
        counts[label] += 1
    return counts


def drw_weights(class_counts: Sequence[float], rule: str = "sqrt_inverse", beta: float = 0.9999) -> torch.Tensor:
    """Per-class weights of ``rule`` for ``class_counts`` (see the module docstring)."""
    counts = torch.as_tensor(class_counts, dtype=torch.float64)
    if counts.ndim != 1 or len(counts) < 2 or bool((counts <= 0).any()):
        raise ValueError(f"class_counts must be >= 2 positive counts, got {list(class_counts)}.")
    if rule == "sqrt_inverse":
        weights = torch.sqrt(counts.max() / counts)
    elif rule == "effective_number":
        if not 0.0 < beta < 1.0:
            raise ValueError(f"beta must be in (0, 1), got {beta}.")
        weights = (1.0 - beta) / (1.0 - torch.pow(torch.as_tensor(beta, dtype=torch.float64), counts))
        weights = weights / weights.sum() * len(counts)
    else:
        raise ValueError(f"unknown DRW rule {rule!r}; use one of {RULES}.")
    return weights.float()


class DeferredReweighting:
    """Sets ``loss.set_weight(...)`` (or ``loss.weight``) at every epoch start: None before ``start_epoch``, weights from it on.

    Args:
        loss: a loss with per-class ``weight`` (``LDAMLoss``, ``torch.nn.CrossEntropyLoss``).
        class_counts: training samples per class.
        start_epoch: first (1-based) epoch trained with the weights.
    """

    def __init__(
        self,
        loss: torch.nn.Module,
        class_counts: Sequence[float],
        start_epoch: int = 15,
        rule: str = "sqrt_inverse",
        beta: float = 0.9999,
    ) -> None:
        if start_epoch < 1:
            raise ValueError(f"start_epoch is 1-based and must be >= 1, got {start_epoch}.")
        self.loss = loss
        self.class_counts = [float(c) for c in class_counts]
        self.start_epoch = start_epoch
        self.rule = rule
        self.beta = beta
        self.weights = drw_weights(self.class_counts, rule, beta)
        self.active = False

    def attach(self, engine: Engine) -> None:
        if not engine.has_event_handler(self.epoch_started, Events.EPOCH_STARTED):
            engine.add_event_handler(Events.EPOCH_STARTED, self.epoch_started)

    def epoch_started(self, engine: Engine) -> None:
        self.apply(engine.state.epoch)

    def apply(self, epoch: int) -> None:
        """Set the loss weights for (1-based) ``epoch``."""
        active = epoch >= self.start_epoch
        if active != self.active:
            logger.info(f"DRW ({self.rule}): class weights {'on' if active else 'off'} from epoch {epoch}: "
                        f"{[round(float(w), 6) for w in self.weights] if active else None}")
        self.active = active
        weight = self.weights.clone() if active else None
        if hasattr(self.loss, "set_weight"):
            self.loss.set_weight(weight)
        else:
            self.loss.weight = weight

    def state_dict(self) -> dict[str, Any]:
        return {"start_epoch": self.start_epoch, "rule": self.rule, "beta": self.beta,
                "class_counts": list(self.class_counts), "active": self.active}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if [float(c) for c in state["class_counts"]] != self.class_counts or state["rule"] != self.rule:
            logger.warning(f"DRW resumed with other settings ({state['rule']}, {state['class_counts']}); "
                           f"keeping the current ones ({self.rule}, {self.class_counts}).")
        self.active = bool(state["active"])
