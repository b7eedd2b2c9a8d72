"""SignedDistanceMapsd: the boundary loss's maps from the data pipeline, equal to those the loss computes itself."""

from __future__ import annotations

import numpy as np
import torch

from monai_pipelines.losses import CombinedSegmentationLoss
from monai_pipelines.losses.boundary_loss import signed_distance_maps
from monai_pipelines.transforms import SignedDistanceMapsd


def test_maps_per_item_equal_the_batch_computation_and_the_loss():
    rng = np.random.default_rng(0)
    labels = torch.from_numpy(rng.integers(0, 4, (3, 1, 20, 16)).astype(np.float32))  # float, as EnsureTyped leaves it
    items = [SignedDistanceMapsd("label", num_classes=4)({"label": label}) for label in labels]
    maps = torch.stack([item["dist_maps"] for item in items])
    assert maps.shape == (3, 4, 20, 16) and maps.dtype == torch.float32
    np.testing.assert_array_equal(maps.numpy(), signed_distance_maps(labels.long().numpy(), 4))
    logits = torch.randn(3, 4, 20, 16)
    loss = CombinedSegmentationLoss({"dice": 0.5, "boundary": 0.5})
    torch.testing.assert_close(loss(logits, labels, dist_maps=maps), loss(logits, labels), rtol=0, atol=0)


def test_without_background_the_loss_is_the_same():
    """The boundary term leaves the background out, so glacier's loader skips its maps (a quarter of the EDTs)."""
    rng = np.random.default_rng(1)
    labels = torch.from_numpy(rng.integers(0, 4, (3, 1, 20, 16)).astype(np.float32))
    full = torch.stack([SignedDistanceMapsd("label", num_classes=4)({"label": t})["dist_maps"] for t in labels])
    lean = torch.stack([SignedDistanceMapsd("label", num_classes=4, include_background=False)({"label": t})["dist_maps"]
                        for t in labels])
    assert not lean[:, 0].any() and full[:, 0].any()
    torch.testing.assert_close(lean[:, 1:], full[:, 1:], rtol=0, atol=0)
    logits = torch.randn(3, 4, 20, 16)
    loss = CombinedSegmentationLoss({"dice": 0.5, "boundary": 0.5})
    torch.testing.assert_close(loss(logits, labels, dist_maps=lean), loss(logits, labels, dist_maps=full),
                               rtol=0, atol=0)


def test_loss_terms_stay_tensors_until_logged():
    """A float() per term inside the loss waited for the GPU between the forward and the backward."""
    loss = CombinedSegmentationLoss({"focal": 0.5, "boundary": 0.5})
    loss(torch.randn(1, 4, 8, 8, requires_grad=True), torch.randint(0, 4, (1, 1, 8, 8)))
    assert all(isinstance(v, torch.Tensor) and not v.requires_grad for v in loss.last_components.values())
