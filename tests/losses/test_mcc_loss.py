from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import matthews_corrcoef

from monai_pipelines.losses.mcc_loss import MCCLoss, mcc_from_confusion


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hard_one_hot_predictions_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 4, size=(2, 1, 12, 10))
    pred = np.where(rng.random(target.shape) < 0.6, target, rng.integers(0, 4, size=target.shape))
    onehot_pred = F.one_hot(torch.from_numpy(pred[:, 0]), 4).movedim(-1, 1).float()
    loss = MCCLoss(softmax=False)(onehot_pred, torch.from_numpy(target))
    expected = matthews_corrcoef(target.ravel(), pred.ravel())
    assert loss.item() == pytest.approx(1.0 - expected, abs=1e-6)


def test_perfect_and_constant_predictions():
    target = torch.randint(0, 4, (1, 1, 8, 8))
    perfect = F.one_hot(target[:, 0], 4).movedim(-1, 1).float()
    assert MCCLoss(softmax=False)(perfect, target).item() == pytest.approx(0.0, abs=1e-6)
    constant = torch.zeros_like(perfect)
    constant[:, 1] = 1
    assert MCCLoss(softmax=False)(constant, target).item() == pytest.approx(1.0)  # undefined MCC -> 0
    assert mcc_from_confusion(torch.zeros(3, 3)).item() == 0.0


def test_soft_loss_is_differentiable_and_decreases_with_confidence():
    target = torch.randint(0, 3, (2, 1, 8, 8))
    onehot = F.one_hot(target[:, 0], 3).movedim(-1, 1).float()
    logits = (onehot * 2.0).requires_grad_()
    loss = MCCLoss()(logits, target)
    loss.backward()
    assert logits.grad.abs().sum() > 0
    assert MCCLoss()(onehot * 8.0, target) < loss
