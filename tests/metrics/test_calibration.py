"""Temperature scaling fitted on validation logits and the expected calibration error (15 bins)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from monai_pipelines.metrics import (
    ClassificationMetrics,
    TemperatureScaling,
    expected_calibration_error,
    fit_temperature,
)


def _overconfident(n: int = 4000, scale: float = 6.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels drawn from softmax(z): z is calibrated, ``scale * z`` is what an overconfident network outputs."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 2, generator=g, dtype=torch.float64)
    labels = torch.multinomial(torch.softmax(z, 1), 1, generator=g).reshape(-1)
    return scale * z, labels


def test_fit_temperature_recovers_the_scale_of_overconfident_logits():
    logits, labels = _overconfident(scale=6.0)
    assert fit_temperature(logits, labels) == pytest.approx(6.0, rel=0.1)
    assert fit_temperature(logits / 6.0, labels) == pytest.approx(1.0, rel=0.1)


def test_expected_calibration_error_by_hand():
    probs = np.array([[0.1, 0.9]] * 4 + [[0.7, 0.3]] * 2)
    labels = np.array([1, 1, 0, 0, 0, 1])  # bin (0.867, 0.933]: confidence 0.9, accuracy 0.5; bin 0.7: 0.5
    assert expected_calibration_error(probs, labels) == pytest.approx((4 * 0.4 + 2 * 0.2) / 6)
    assert expected_calibration_error(np.array([[0.0, 1.0]]), np.array([1])) == 0.0


def test_metric_fits_on_validation_and_reports_ece_before_and_after():
    logits, labels = _overconfident(n=2000, scale=8.0, seed=1)
    scaling = TemperatureScaling()
    metric = ClassificationMetrics(class_names=["a", "b"], calibration=scaling, fit_calibration=True)
    metric.reset()
    metric.update((logits.float(), labels))
    result = metric.compute()
    assert scaling.fitted and scaling.temperature == pytest.approx(8.0, rel=0.15)
    assert result["val_temperature"] == scaling.temperature
    # the raw softmax of 8 * z is overconfident; calibrated it is within a few points
    assert result["val_ece_uncalibrated"] > 0.15 and result["val_ece"] < 0.04, result
    expected = torch.softmax(logits / scaling.temperature, 1).numpy()
    np.testing.assert_allclose(metric.probs, expected, atol=1e-6)  # what is written and plotted is calibrated
    from sklearn.metrics import roc_auc_score

    # the ranking is the logits' (float32 softmax of the raw logits saturates to ties and loses some of it)
    assert result["val_auc"] == pytest.approx(roc_auc_score(labels, logits[:, 1] - logits[:, 0]))

def test_temperature_travels_in_the_checkpoint(tmp_path, caplog):
    scaling = TemperatureScaling()
    scaling.fit(*_overconfident(n=500, scale=3.0))
    torch.save({"temperature_scaling": scaling.state_dict()}, tmp_path / "best.pt")
    loaded = TemperatureScaling.from_checkpoint(tmp_path / "best.pt")
    assert loaded.temperature == scaling.temperature and loaded.fitted
    assert torch.equal(loaded(torch.tensor([3.0, -3.0])), torch.tensor([3.0, -3.0]) / scaling.temperature)
    torch.save({"network": {}}, tmp_path / "old.pt")
    with caplog.at_level(logging.WARNING):
        assert TemperatureScaling.from_checkpoint(tmp_path / "old.pt").temperature == 1.0
    assert "holds no fitted temperature" in caplog.text
