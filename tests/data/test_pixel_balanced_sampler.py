from __future__ import annotations

import numpy as np
import pytest

from monai_pipelines.data.pixel_balanced_sampler import GLACIER_TARGETS, PixelBalancedSampler, crop_window


def _imbalanced_tiles(n: int = 8, size: int = 128) -> list[np.ndarray]:
    """Large class regions (background ~41%, ice ~42%, debris ~10%, lake ~8%): far from the targets."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    tiles = []
    for _ in range(n):
        lab = np.zeros((size, size), dtype=np.int64)
        edge = int(rng.integers(70, 80))
        lab[:, edge:] = 1
        lab[:, edge - 34 : edge - 6][40:100] = 2
        cy = int(rng.integers(40, 88))
        lab[(yy - cy) ** 2 + (xx - 22) ** 2 < 20**2] = 3
        tiles.append(lab)
    return tiles


def _pixel_proportions(sampler: PixelBalancedSampler, draws) -> np.ndarray:
    counts = np.zeros(4)
    for t, r, c in draws:
        lab = sampler.labels[t]
        counts += np.bincount(lab[crop_window(lab.shape, (r, c), sampler.patch_size)].ravel(), minlength=4)
    return counts / counts.sum()


def test_patch_pixel_proportions_within_3_points_over_1000_draws():
    tiles = _imbalanced_tiles()
    natural = np.bincount(np.concatenate([t.ravel() for t in tiles]), minlength=4) / sum(t.size for t in tiles)
    assert np.abs(natural - np.array(GLACIER_TARGETS)).max() > 0.25  # the data alone is far off
    sampler = PixelBalancedSampler(tiles, GLACIER_TARGETS, patch_size=8, num_samples=1000, seed=3)
    draws = list(sampler)
    assert len(draws) == 1000
    got = _pixel_proportions(sampler, draws)
    assert np.abs(got - np.array(GLACIER_TARGETS)).max() < 0.03, got
    assert np.abs(sampler.expected_proportions - np.array(GLACIER_TARGETS)).max() < 0.01


def test_centre_only_balancing_and_mapping_targets():
    tiles = _imbalanced_tiles()
    sampler = PixelBalancedSampler(tiles, {0: 0.1, 1: 0.35, 2: 0.4, 3: 0.15}, patch_size=None, num_samples=1000)
    centres = np.array([sampler.labels[t][r, c] for t, r, c in sampler])
    assert np.abs(np.bincount(centres, minlength=4) / 1000 - np.array(GLACIER_TARGETS)).max() < 0.03


def test_absent_class_renormalised_and_rng_state_resumes():
    tiles = [np.where(t == 3, 0, t) for t in _imbalanced_tiles()]  # no lakes (as in HKH)
    sampler = PixelBalancedSampler(tiles, GLACIER_TARGETS, patch_size=None, num_samples=50)
    assert sampler.class_weights[3] == 0
    assert sampler.class_weights[:3] == pytest.approx(np.array([0.10, 0.35, 0.40]) / 0.85)
    state = sampler.state_dict()
    first = list(sampler)
    sampler.load_state_dict(state)
    assert list(sampler) == first


def test_errors():
    with pytest.raises(ValueError, match="at least one"):
        PixelBalancedSampler([])
    with pytest.raises(ValueError, match="non-negative"):
        PixelBalancedSampler([np.zeros((4, 4), int)], [-1, 1])


def test_feeds_balanced_patch_dataset_through_a_dataloader():
    from torch.utils.data import DataLoader

    from monai_pipelines.data.patch_dataset import BalancedPatchDataset

    tiles = _imbalanced_tiles(2)
    data = [{"image": np.stack([t, t]).astype(np.float32), "label": t[None]} for t in tiles]
    dataset = BalancedPatchDataset(data, patch_size=8)
    sampler = PixelBalancedSampler(dataset.labels, patch_size=8, num_samples=6, seed=1)
    batch = next(iter(DataLoader(dataset, batch_size=6, sampler=sampler)))
    assert batch["image"].shape == (6, 2, 8, 8) and batch["label"].shape == (6, 1, 8, 8)
    assert (batch["image"][:, :1] == batch["label"]).all()
    assert dataset[0]["label"].shape == (1, 8, 8)
