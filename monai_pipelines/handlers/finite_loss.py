"""Stop training at the first non-finite loss, in one line that says what to try.

Ours because Ignite's ``TerminateOnNan`` ends the run as if it had finished (the final model is then written with
NaN weights) and MONAI has none: without it a diverged run trains on in NaN and fails later, in whatever first
refuses NaN (a metric's traceback). Here the command fails at that iteration, before any checkpoint of it is
written, so the newest checkpoint is the last finite state and a rerun with other settings can start from scratch
or from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ignite.engine import Engine, Events

from monai_pipelines.utils.device_scalars import IterationScalars
from monai_pipelines.utils.errors import InputError

__all__ = ["FiniteLossGuard", "TrainingDivergedError"]


class TrainingDivergedError(InputError):
    """A loss became NaN or infinite: the settings (learning rate, precision) cannot train this network."""


class FiniteLossGuard:
    """Raise :class:`TrainingDivergedError` when one of the trainer's loss scalars is NaN or infinite.

    Args:
        keys: the loss scalars in ``engine.state.output`` (a GAN trainer's ``g_loss``, ``d_loss``...).
        hint: what to try, appended to the message (e.g. "rerun with --amp false or a lower --learning_rate").
        output_transform: ``engine.state.output`` -> {name: number} holding `keys` (e.g. the read of the device
            that the logging handlers share, :class:`~monai_pipelines.utils.device_scalars.IterationScalars`);
            default: `keys` read from the output in one transfer per iteration.
    """

    def __init__(self, keys: Sequence[str] = ("loss",), hint: str = "",
                 output_transform: Callable[[Any], Mapping[str, float]] | None = None) -> None:
        self.keys = list(keys)
        self.hint = hint
        self.output_transform = output_transform

    def attach(self, engine: Engine) -> None:
        if self.output_transform is None:
            self.output_transform = IterationScalars(engine, self.keys)
        if not engine.has_event_handler(self.check, Events.ITERATION_COMPLETED):
            engine.add_event_handler(Events.ITERATION_COMPLETED, self.check)

    def check(self, engine: Engine) -> None:
        values = {key: value for key, value in self.output_transform(engine.state.output).items() if key in self.keys}
        key = next((key for key, value in values.items() if not math.isfinite(value)), None)
        if key is None:
            return
        state = engine.state
        epoch_length = state.epoch_length or 1
        raise TrainingDivergedError(
            f"training diverged: {key} is {values[key]} at epoch {state.epoch}, iteration "
            f"{(state.iteration - 1) % epoch_length + 1} of {epoch_length}" + (f"; {self.hint}" if self.hint else "")
            + ".")

