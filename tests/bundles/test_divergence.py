"""A training whose loss becomes NaN stops at that iteration in one line, in every bundle (FiniteLossGuard is part
of the shared training handlers). Found on a CPU with native bf16: glioma's 5-fold demo under bf16 autocast went NaN
in fold 0's 4th iteration, trained on in NaN and failed later in scikit-learn's ROC with a traceback (the NaN
itself was oneDNN's wrong bf16 weight gradients at layer4's 2^3 inputs, since kept fp32: test_bf16_training.py)."""

from __future__ import annotations

import math

import pytest

from monai_pipelines.handlers import finite_loss
from monai_pipelines.handlers.training_checkpoint import checkpoint_position, latest_checkpoint
from monai_pipelines.utils.errors import find_user_error, user_error_message
from tests.bundles.runner import BUNDLES, run_bundle
from tests.bundles.test_bad_inputs import _tiny_training


@pytest.mark.parametrize("bundle", BUNDLES)
def test_a_diverged_loss_stops_training_in_one_line(bundle, tmp_path, monkeypatch):
    guard_check = finite_loss.FiniteLossGuard.check
    checked: list[list[str]] = []

    def diverge_at_the_second_iteration(self, engine):
        output = engine.state.output[0] if isinstance(engine.state.output, list) else engine.state.output
        checked.append(list(self.keys))
        if engine.state.iteration == 2:
            output[self.keys[-1]] = output[self.keys[-1]] * math.nan  # e.g. a GAN's discriminator loss
        return guard_check(self, engine)

    monkeypatch.setattr(finite_loss.FiniteLossGuard, "check", diverge_at_the_second_iteration)
    out = tmp_path / "run"
    overrides = {**_tiny_training(bundle, tmp_path / "data"), "output_dir": str(out), "checkpoint_iterations": 1,
                 "epochs": 2}
    with pytest.raises(Exception) as info:
        run_bundle(bundle, "training", **overrides)
    error = find_user_error(info.value)
    assert isinstance(error, finite_loss.TrainingDivergedError), info.value
    message = user_error_message(error)
    assert "\n" not in message and f"{checked[-1][-1]} is nan at epoch 1, iteration 2 of" in message, message
    assert "--learning_rate" in message
    # the iteration that diverged was not checkpointed: the newest checkpoint is the first iteration's
    newest = latest_checkpoint(out / "checkpoints")
    assert newest is not None and checkpoint_position(newest) == (1, 1), newest
