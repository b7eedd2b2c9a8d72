from __future__ import annotations

import pytest
import torch
from monai.losses import DiceLoss, FocalLoss

from monai_pipelines.losses.combined_loss import CombinedSegmentationLoss
from monai_pipelines.losses.mcc_loss import MCCLoss


def test_weighted_sum_of_components():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 16, 16)
    target = torch.randint(0, 4, (2, 1, 16, 16))
    loss = CombinedSegmentationLoss({"focal": 0.5, "dice": 0.25, "mcc": 2.0})
    expected = (
        0.5 * FocalLoss(to_onehot_y=True, use_softmax=True)(logits, target)
        + 0.25 * DiceLoss(to_onehot_y=True, softmax=True)(logits, target)
        + 2.0 * MCCLoss()(logits, target)
    )
    assert loss(logits, target).item() == pytest.approx(expected.item(), rel=1e-5)
    assert set(loss.last_components) == {"focal", "dice", "mcc"}  # zero-weight boundary not computed


def test_weights_settable_and_validated():
    loss = CombinedSegmentationLoss({"dice": 1.0})
    loss.weights = {"boundary": 0.3, "mcc": 0.7}
    assert loss.weights == {"focal": 0.0, "dice": 0.0, "mcc": 0.7, "boundary": 0.3}
    with pytest.raises(ValueError, match="unknown"):
        loss.weights = {"hausdorff": 1.0}
    with pytest.raises(ValueError, match=">= 0"):
        loss.weights = {"dice": -1.0}


def test_backward_with_all_terms():
    logits = torch.randn(1, 4, 16, 16, requires_grad=True)
    target = torch.randint(0, 4, (1, 1, 16, 16))
    CombinedSegmentationLoss({"focal": 0.25, "dice": 0.25, "mcc": 0.35, "boundary": 0.15})(logits, target).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_class_weights_weigh_focal_pixels_by_their_true_class():
    torch.manual_seed(0)
    logits, labels = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 1, 4, 4))
    plain = CombinedSegmentationLoss({"focal": 1.0})
    weighted = CombinedSegmentationLoss({"focal": 1.0}, class_weights=[0.5, 2.0, 4.0])
    per_pixel = torch.nn.functional.one_hot(labels[:, 0], 3).permute(0, 3, 1, 2).float()
    p = torch.softmax(logits, 1)
    focal = -(per_pixel * (1 - p) ** 2 * torch.log(p))  # (B, K, H, W), non-zero at the true class only
    expected = (focal * torch.tensor([0.5, 2.0, 4.0])[None, :, None, None]).mean()
    assert weighted(logits, labels) == pytest.approx(float(expected), rel=1e-5)
    assert plain(logits, labels) == pytest.approx(float(focal.mean()), rel=1e-5)
