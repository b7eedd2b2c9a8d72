from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_pipelines.losses.boundary_loss import BoundaryLoss, signed_distance_maps


def _square_label() -> np.ndarray:
    label = np.zeros((1, 1, 16, 16), dtype=np.int64)
    label[0, 0, 4:12, 4:12] = 1
    return label


def test_signed_distances_negative_inside_positive_outside():
    maps = signed_distance_maps(_square_label(), num_classes=3, normalise=False)
    assert maps.shape == (1, 3, 16, 16)
    assert maps[0, 1, 8, 8] < 0 and maps[0, 1, 0, 0] > 0
    assert maps[0, 1, 4, 8] == 0.0  # boundary pixel inside the object
    assert maps[0, 1, 3, 8] == 1.0  # one pixel outside
    assert maps[0, 1, 0, 0] == pytest.approx(np.hypot(4, 4))
    assert not maps[0, 2].any()  # absent class
    assert np.allclose(signed_distance_maps(_square_label(), 3), maps / 16)


def test_perfect_prediction_scores_lower_than_inverted():
    label = torch.from_numpy(_square_label())
    good = torch.nn.functional.one_hot(label[:, 0], 2).movedim(-1, 1).float() * 20 - 10
    loss = BoundaryLoss()
    assert loss(good, label) < 0 < loss(-good, label)


def test_gradient_flows_and_precomputed_maps_match():
    label = torch.from_numpy(_square_label())
    logits = torch.randn(1, 2, 16, 16, requires_grad=True)
    loss = BoundaryLoss(include_background=True)
    value = loss(logits, label)
    value.backward()
    assert logits.grad.abs().sum() > 0
    maps = torch.from_numpy(signed_distance_maps(label.numpy(), 2))
    assert torch.allclose(loss(logits, label, maps), value)


def test_maps_computed_in_the_loss_skip_the_background_it_leaves_out(monkeypatch):
    """Without precomputed maps the loss computed the background's too and dropped them (a quarter of the EDTs with
    4 classes, e.g. glacier's validation loss on whole tiles every epoch)."""
    from monai_pipelines.losses import boundary_loss

    calls, real = [], boundary_loss.signed_distance_maps
    monkeypatch.setattr(boundary_loss, "signed_distance_maps",
                        lambda *a, **k: calls.append(k.get("include_background", True)) or real(*a, **k))
    label = torch.from_numpy(_square_label())
    logits = torch.randn(1, 2, 16, 16)
    expected = BoundaryLoss()(logits, label, torch.from_numpy(real(label.numpy(), 2)))
    torch.testing.assert_close(BoundaryLoss()(logits, label), expected, rtol=0, atol=0)
    BoundaryLoss(include_background=True)(logits, label)
    assert calls == [False, True]
