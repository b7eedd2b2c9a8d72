"""LDAM loss: margins and loss values against hand computation."""

from __future__ import annotations

import math

import pytest
import torch

from monai_pipelines.losses.ldam_loss import LDAMLoss, ldam_margins


def test_margins_hand_computed():
    # 25 LGG, 75 HGG: m ~ n^-1/4 scaled so the rarest gets 0.5 -> 0.5 * (25/75)^(1/4) = 0.379918 for HGG
    assert torch.allclose(ldam_margins([25, 75]), torch.tensor([0.5, 0.37991784]), atol=1e-7)
    assert torch.allclose(ldam_margins([10, 20, 70], max_m=0.5), torch.tensor([0.5, 0.42044821, 0.30739408]))
    assert torch.allclose(ldam_margins([80, 20], max_m=0.3), torch.tensor([0.3 * (20 / 80) ** 0.25, 0.3]))


def _hand_loss(logits, targets, margins, s, weight=None):
    total, norm = 0.0, 0.0
    for row, t in zip(logits, targets):
        z = [s * (v - (margins[j] if j == t else 0.0)) for j, v in enumerate(row)]
        nll = -z[t] + math.log(sum(math.exp(v) for v in z))
        w = 1.0 if weight is None else weight[t]
        total, norm = total + w * nll, norm + w
    return total / norm


def test_loss_value_hand_computed():
    logits = [[0.2, 0.1], [0.0, 0.3], [0.05, -0.02]]
    targets = [0, 1, 1]
    loss = LDAMLoss([25, 75], max_m=0.5, s=30.0)
    value = loss(torch.tensor(logits), torch.tensor(targets))
    # first sample by hand: 30 * [0.2 - 0.5, 0.1] = [-9, 3] -> 12 + log(1 + e^-12)
    assert math.isclose(float(LDAMLoss([25, 75])(torch.tensor(logits[:1]), torch.tensor([0]))),
                        12 + math.log1p(math.exp(-12)), rel_tol=1e-6)
    assert math.isclose(float(value), _hand_loss(logits, targets, [0.5, 0.37991784], 30.0), rel_tol=1e-6)
    loss.set_weight([1.7320508, 1.0])
    weighted = loss(torch.tensor(logits), torch.tensor(targets)[:, None].float())  # (N, 1) float labels as MONAI gives
    assert math.isclose(float(weighted), _hand_loss(logits, targets, [0.5, 0.37991784], 30.0, [1.7320508, 1.0]),
                        rel_tol=1e-6)
    assert not math.isclose(float(weighted), float(value), rel_tol=1e-3)
    loss.set_weight(None)
    assert math.isclose(float(loss(torch.tensor(logits), torch.tensor(targets))), float(value), rel_tol=1e-7)


def test_gradient_and_bf16_logits():
    logits = torch.randn(4, 2, requires_grad=True)
    LDAMLoss([10, 30])(logits.bfloat16(), torch.tensor([0, 1, 1, 0])).backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_errors():
    with pytest.raises(ValueError, match="class_counts"):
        LDAMLoss([0, 10])
    loss = LDAMLoss([10, 30])
    with pytest.raises(ValueError, match="per-class"):
        loss.set_weight([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"logits \(N, 2\)"):
        loss(torch.zeros(2, 3), torch.tensor([0, 1]))


def test_scaled_logits_equal_unscaled_loss_on_cosines():
    # a cosine head that already multiplies by s: margins applied as s * m give the loss of the official form
    cosines = torch.tensor([[0.2, 0.1], [0.0, 0.3], [0.05, -0.02], [-0.4, 0.9]])
    targets = torch.tensor([0, 1, 1, 0])
    plain = LDAMLoss([25, 75], s=30.0)
    scaled = LDAMLoss([25, 75], s=30.0, scaled_logits=True)
    assert math.isclose(float(scaled(30.0 * cosines, targets)), float(plain(cosines, targets)), rel_tol=1e-6)
    assert math.isclose(float(scaled(30.0 * cosines, targets)),
                        _hand_loss(cosines.tolist(), targets.tolist(), [0.5, 0.37991784], 30.0), rel_tol=1e-6)
    scaled.set_weight([1.5, 0.5])
    plain.set_weight([1.5, 0.5])
    assert math.isclose(float(scaled(30.0 * cosines, targets)), float(plain(cosines, targets)), rel_tol=1e-6)
    assert not math.isclose(float(scaled(cosines, targets)), float(plain(cosines, targets)), rel_tol=1e-3)
