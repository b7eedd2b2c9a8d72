from __future__ import annotations

import pytest
from ignite.engine import Engine

from monai_pipelines.handlers.loss_weight_ramp import LossWeightRamp
from monai_pipelines.losses.combined_loss import CombinedSegmentationLoss

PHASE_A = {"focal": 0.4, "dice": 0.4, "boundary": 0.2}
FINAL = {"focal": 0.25, "dice": 0.25, "mcc": 0.35, "boundary": 0.15}


def test_exact_weights_per_epoch():
    ramp = LossWeightRamp(CombinedSegmentationLoss(PHASE_A), PHASE_A, FINAL, ramp_start_epoch=3, ramp_epochs=4)
    assert ramp.weights(1) == {"focal": 0.4, "dice": 0.4, "boundary": 0.2, "mcc": 0.0}
    assert ramp.weights(2) == ramp.weights(1)
    assert ramp.weights(3) == pytest.approx({"focal": 0.3625, "dice": 0.3625, "boundary": 0.1875, "mcc": 0.0875}, abs=1e-12)
    assert ramp.weights(4) == pytest.approx({"focal": 0.325, "dice": 0.325, "boundary": 0.175, "mcc": 0.175}, abs=1e-12)
    assert ramp.weights(5) == pytest.approx({"focal": 0.2875, "dice": 0.2875, "boundary": 0.1625, "mcc": 0.2625}, abs=1e-12)
    assert ramp.weights(6) == FINAL
    assert ramp.weights(60) == FINAL
    step = LossWeightRamp(None, PHASE_A, FINAL, ramp_start_epoch=2, ramp_epochs=0)
    assert step.weights(1)["mcc"] == 0.0 and step.weights(2) == FINAL


def test_drives_the_loss_per_epoch_and_resumes():
    loss = CombinedSegmentationLoss(PHASE_A)
    ramp = LossWeightRamp(loss, PHASE_A, FINAL, ramp_start_epoch=2, ramp_epochs=2)
    seen = []
    engine = Engine(lambda e, b: seen.append((e.state.epoch, loss.weights["mcc"])))
    ramp.attach(engine)
    engine.run([0], max_epochs=4)
    assert seen == [(1, 0.0), (2, pytest.approx(0.175)), (3, 0.35), (4, 0.35)]

    other_loss = CombinedSegmentationLoss({"dice": 1.0})
    resumed = LossWeightRamp(other_loss)
    resumed.load_state_dict(ramp.state_dict())
    assert resumed.state_dict() == ramp.state_dict()
    assert other_loss.weights == loss.weights


def test_rejects_bad_schedule():
    with pytest.raises(ValueError):
        LossWeightRamp(None, ramp_start_epoch=0)
