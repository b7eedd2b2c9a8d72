"""Epoch-driven loss weight schedule: phase A weights, then a linear ramp to the final weights (e.g. adding MCC).

MONAI has no handler that changes loss weights during training. Epoch ``e`` (1-based, as Ignite counts) gets
``alpha = clip((e - ramp_start_epoch + 1) / ramp_epochs, 0, 1)`` (a step at ``ramp_start_epoch`` when
``ramp_epochs`` is 0) and weights ``(1 - alpha) * phase_a + alpha * final`` (missing names weigh 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ignite.engine import Engine, Events

__all__ = ["LossWeightRamp"]

FINAL_WEIGHTS = {"focal": 0.25, "dice": 0.25, "mcc": 0.35, "boundary": 0.15}
PHASE_A_WEIGHTS = {"focal": 0.4, "dice": 0.4, "boundary": 0.2}


class LossWeightRamp:
    """Sets ``loss.weights`` at every epoch start from the epoch number.

    Args:
        loss: any object with a settable ``weights`` dict (e.g. CombinedSegmentationLoss).
        ramp_start_epoch: first (1-based) epoch whose weights move towards ``final``.
        ramp_epochs: epochs the ramp takes; ``final`` is reached at ``ramp_start_epoch + ramp_epochs - 1``.
    """

    def __init__(
        self,
        loss: Any,
        phase_a: Mapping[str, float] | None = None,
        final: Mapping[str, float] | None = None,
        ramp_start_epoch: int = 1,
        ramp_epochs: int = 0,
    ) -> None:
        if ramp_start_epoch < 1 or ramp_epochs < 0:
            raise ValueError(f"need ramp_start_epoch >= 1 and ramp_epochs >= 0, got {ramp_start_epoch}, {ramp_epochs}.")
        self.loss = loss
        self.phase_a = dict(PHASE_A_WEIGHTS if phase_a is None else phase_a)
        self.final = dict(FINAL_WEIGHTS if final is None else final)
        self.ramp_start_epoch = int(ramp_start_epoch)
        self.ramp_epochs = int(ramp_epochs)
        self.epoch = 0

    def alpha(self, epoch: int) -> float:
        """Fraction of the way from phase A to the final weights at (1-based) ``epoch``."""
        if epoch < self.ramp_start_epoch:
            return 0.0
        if self.ramp_epochs == 0:
            return 1.0
        return min(1.0, (epoch - self.ramp_start_epoch + 1) / self.ramp_epochs)

    def weights(self, epoch: int) -> dict[str, float]:
        """The loss weights of (1-based) ``epoch``."""
        a = self.alpha(epoch)
        names = list(dict.fromkeys([*self.phase_a, *self.final]))
        return {n: (1.0 - a) * self.phase_a.get(n, 0.0) + a * self.final.get(n, 0.0) for n in names}

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, self)

    def __call__(self, engine: Engine) -> None:
        self.apply(engine.state.epoch)

    def apply(self, epoch: int) -> None:
        """Set the weights of ``epoch`` on the loss."""
        self.epoch = int(epoch)
        self.loss.weights = self.weights(self.epoch)

    def state_dict(self) -> dict[str, Any]:
        return {
            "phase_a": dict(self.phase_a),
            "final": dict(self.final),
            "ramp_start_epoch": self.ramp_start_epoch,
            "ramp_epochs": self.ramp_epochs,
            "epoch": self.epoch,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.phase_a = dict(state["phase_a"])
        self.final = dict(state["final"])
        self.ramp_start_epoch = int(state["ramp_start_epoch"])
        self.ramp_epochs = int(state["ramp_epochs"])
        if int(state.get("epoch", 0)) > 0:
            self.apply(int(state["epoch"]))
