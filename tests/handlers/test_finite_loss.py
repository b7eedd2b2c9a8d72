"""FiniteLossGuard: the first NaN or infinite loss scalar raises a one-line user error naming it and where."""

from __future__ import annotations

import math

import pytest
import torch
from ignite.engine import Engine

from monai_pipelines.handlers import FiniteLossGuard, TrainingDivergedError
from monai_pipelines.utils.errors import InputError


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_stops_at_the_first_non_finite_loss(bad):
    losses = [1.0, 0.5, 0.25, bad, 0.1]
    seen = []

    def step(engine, _):
        seen.append(engine.state.iteration)
        return {"g_loss": torch.tensor(0.3), "d_loss": torch.tensor(losses[engine.state.iteration - 1])}

    engine = Engine(step)
    FiniteLossGuard(["g_loss", "d_loss"], hint="try this").attach(engine)
    with pytest.raises(TrainingDivergedError) as info:
        engine.run(range(2), max_epochs=3)
    assert isinstance(info.value, InputError) and seen == [1, 2, 3, 4]
    assert str(info.value) == f"training diverged: d_loss is {bad} at epoch 2, iteration 2 of 2; try this."


def test_other_outputs_pass():
    engine = Engine(lambda e, _: [{"loss": 2.0, "pred": torch.full((2,), math.nan)}] if e.state.iteration % 2 else None)
    FiniteLossGuard().attach(engine)
    engine.run(range(3), max_epochs=1)  # a finite loss in a decollated list, then no output: nothing to check
    assert engine.state.iteration == 3
