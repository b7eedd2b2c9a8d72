"""AdversarialLoss: agrees with the textbook formulas and MONAI's least squares, per-channel targets, autocast."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from monai.losses import PatchAdversarialLoss

from monai_pipelines.losses.adversarial_loss import AdversarialLoss


@pytest.fixture
def logits() -> torch.Tensor:
    return torch.randn(2, 3, 5, 5, generator=torch.Generator().manual_seed(0)) * 3


def test_vanilla_is_bce_with_logits(logits):
    loss = AdversarialLoss("vanilla")
    assert torch.allclose(loss(logits, True), F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits)))
    assert torch.allclose(loss(logits, False), F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits)))
    # stable for extreme logits, where sigmoid + BCE saturates
    assert torch.isfinite(loss(torch.full((1, 1, 2, 2), 200.0), False))


def test_lsgan_matches_monai_without_activation_and_mse(logits):
    ours = AdversarialLoss("lsgan")
    monai_loss = PatchAdversarialLoss(criterion="least_squares", no_activation_leastsq=True)
    assert torch.allclose(ours(logits, True), monai_loss(logits, True, for_discriminator=True))
    assert torch.allclose(ours(logits, False), F.mse_loss(logits, torch.zeros_like(logits)))
    assert torch.allclose(ours(logits, torch.tensor(1.0)), ours(logits, True))


def test_hinge_discriminator_and_generator(logits):
    loss = AdversarialLoss("hinge")
    assert torch.allclose(loss(logits, True), F.relu(1 - logits).mean())
    assert torch.allclose(loss(logits, False), F.relu(1 + logits).mean())
    assert torch.allclose(loss(logits, True, for_discriminator=False), -logits.mean())


@pytest.mark.parametrize("mode", ["vanilla", "lsgan", "hinge"])
def test_per_channel_targets_equal_split_computation(logits, mode):
    loss = AdversarialLoss(mode, reduction="none")
    targets = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])  # (B, C)
    element = loss(logits, targets)
    assert element.shape == logits.shape
    for b in range(2):
        for c in range(3):
            expected = loss(logits[b : b + 1, c : c + 1], bool(targets[b, c]))
            assert torch.allclose(element[b, c], expected[0, 0])
    full = AdversarialLoss(mode)(logits, targets[..., None, None].expand_as(logits))
    assert torch.allclose(full, element.mean())


def test_bad_target_shape_and_mode_rejected(logits):
    with pytest.raises(ValueError, match="does not broadcast"):
        AdversarialLoss()(logits, torch.ones(3, 2))
    with pytest.raises(ValueError, match="mode"):
        AdversarialLoss("wgan")


def test_multiscale_list_is_averaged(logits):
    loss = AdversarialLoss("lsgan")
    small = logits[..., :2, :2]
    assert torch.allclose(loss([logits, small], True), (loss(logits, True) + loss(small, True)) / 2)


def test_bf16_logits_give_fp32_loss_with_gradients(logits):
    x = logits.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        pred = F.conv2d(x, torch.ones(1, 3, 1, 1))
        assert pred.dtype == torch.bfloat16
        value = AdversarialLoss("vanilla")(pred, True)
    assert value.dtype == torch.float32
    value.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
