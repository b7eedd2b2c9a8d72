from __future__ import annotations

import json
from functools import lru_cache

import numpy as np
import pytest

from monai_pipelines.data.geotiff import labels_from_channels
from monai_pipelines.data.pixel_balanced_sampler import (
    GLACIER_TARGETS,
    PixelBalancedSampler,
    crop_window,
    patch_class_counts,
    save_sampler_report,
)
from monai_pipelines.data.synthetic.glacier_tiles import glacier_tile


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
    assert sampler.class_weights[:3] == pytest.approx(np.array([0.10, 0.35, 0.40]) / 0.85, abs=1e-4)
    state = sampler.state_dict()
    first = list(sampler)
    assert list(sampler) != first  # the next epoch draws anew
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


@lru_cache
def _demo_labels(n: int = 40) -> tuple[np.ndarray, ...]:
    """The glacier demo's label maps (its generator's defaults: 40 tiles of 128 px)."""
    return tuple(glacier_tile(i, 128)[1] for i in range(n))


def _hull_limits(labels, patch: int) -> tuple[np.ndarray, np.ndarray]:
    """Per class, the smallest and largest fraction any patch of the data can hold (bounds on any sampler)."""
    fractions = np.concatenate([patch_class_counts(lab, 4, (patch, patch)).reshape(4, -1) for lab in labels], 1)
    fractions = fractions / fractions.sum(0)
    return fractions.min(1), fractions.max(1)


def test_draws_are_a_pure_function_of_seed_and_epoch_and_resume_exactly():
    tiles = _imbalanced_tiles(2)
    a = PixelBalancedSampler(tiles, patch_size=8, num_samples=20, seed=5)
    b = PixelBalancedSampler(tiles, patch_size=8, num_samples=20, seed=5)
    run = [list(a) for _ in range(3)]
    b.set_epoch(2)
    assert list(b) == run[2]
    a.set_epoch(1)
    state = a.state_dict()
    fresh = PixelBalancedSampler(tiles, patch_size=8, num_samples=20, seed=5)
    fresh.load_state_dict(state)
    assert list(fresh) == run[1] and list(fresh) == run[2]
    assert len({tuple(map(tuple, r)) for r in run}) == 3
    other_rank = PixelBalancedSampler(tiles, patch_size=8, num_samples=20, seed=6)
    other_rank.load_state_dict(state)  # rank 0's checkpoint, loaded on another rank: its own seed is kept
    assert other_rank.epoch == 1 and list(other_rank) != run[1]


def test_demo_tiles_reach_targets_where_patches_allow_within_5_points():
    labels = _demo_labels()
    lo, hi = _hull_limits(labels, 32)
    assert (lo <= np.array(GLACIER_TARGETS)).all() and (hi >= np.array(GLACIER_TARGETS)).all()
    sampler = PixelBalancedSampler(labels, GLACIER_TARGETS, patch_size=32, num_samples=4000, seed=0)
    got = _pixel_proportions(sampler, list(sampler))
    assert np.abs(got - np.array(GLACIER_TARGETS)).max() < 0.05, got
    report = sampler.report()
    assert report["within_tolerance"] and report["draws"] == 4000
    assert np.allclose(list(report["sampled"].values()), got, atol=1e-6)  # what the report says is what was drawn
    assert report["effective_candidates"] >= 0.01 * report["candidates"]  # not a handful of repeated patches


def test_demo_tiles_at_bundle_patch_size_get_as_close_as_data_allow_and_say_so(tmp_path, caplog):
    labels = _demo_labels()
    lo, _ = _hull_limits(labels, 64)
    assert lo[0] > GLACIER_TARGETS[0] + 0.05  # every 64 px patch is >15% background: 10% cannot be reached
    with caplog.at_level("WARNING"):
        sampler = PixelBalancedSampler(labels, GLACIER_TARGETS, patch_size=64, num_samples=4000, seed=0)
    assert "cannot get closer" in caplog.text and "loss weights" in caplog.text
    got = _pixel_proportions(sampler, list(sampler))
    # the centre-class sampler reached 50.0/32.9/14.5/2.6 %: background is now far closer, debris too
    assert got[0] < 0.42 and got[2] > 0.24, got
    report = json.loads(save_sampler_report(sampler, tmp_path / "metrics" / "sampler_proportions.json").read_text())
    assert not report["within_tolerance"] and report["max_abs_error"] == pytest.approx(np.abs(got - GLACIER_TARGETS).max(), abs=1e-6)
    assert list(report["weighted"].values()) == pytest.approx(GLACIER_TARGETS, abs=1e-6)
    weights = np.array(list(report["loss_weights"].values()))
    assert (weights * got / (weights * got).sum()) == pytest.approx(GLACIER_TARGETS, abs=0.02)  # on the real draws
    assert [p.name for p in (tmp_path / "metrics").iterdir()] == ["sampler_proportions.json"]  # no temp file left


def _real_hkh_labels(real_data):
    return [labels_from_channels(np.load(real_data / "hkh" / name)) for name in
            ("slice_6_mask_072.npy", "slice_14_mask_062.npy")]


def test_real_hkh_masks_reach_attainable_targets(real_data):
    labels = _real_hkh_labels(real_data)
    _, hi = _hull_limits(labels, 64)
    assert hi[1] > 0.06  # the richest 64 px patch is 6.4 % clean ice (0.27 % of all pixels)
    sampler = PixelBalancedSampler(labels, {0: 0.95, 1: 0.05}, patch_size=64, num_samples=4000, seed=0)
    got = _pixel_proportions(sampler, list(sampler))
    # within 1 point (5 would be trivial here); the centre-class sampler topped out at 3.4 % clean ice
    assert np.abs(got[:2] - [0.95, 0.05]).max() < 0.01, got


def test_real_hkh_masks_report_what_the_glacier_targets_cannot_reach(real_data):
    labels = _real_hkh_labels(real_data)
    _, hi = _hull_limits(labels, 64)
    assert hi[1] < 0.78 - 0.05  # no 64 px patch of these masks is 78 % clean ice
    sampler = PixelBalancedSampler(labels, GLACIER_TARGETS, patch_size=64, num_samples=4000, seed=0)
    got = _pixel_proportions(sampler, list(sampler))
    report = sampler.report()
    assert report["absent_classes"] == [2, 3]  # HKH has no lakes, these two masks no debris
    assert report["attainable_targets"]["1"] == pytest.approx(0.35 / 0.45)
    assert got[1] > 0.034  # the centre-class sampler reached 3.4 % clean ice
    assert not report["within_tolerance"]
    assert [report["weighted"][k] for k in "01"] == pytest.approx([0.1 / 0.45, 0.35 / 0.45], abs=1e-6)


def test_candidate_budget_bounds_memory_on_many_tiles():
    tiles = _imbalanced_tiles(8, 64)
    sampler = PixelBalancedSampler(tiles, patch_size=16, max_candidates=8 * 4 * 100)
    centre_class = np.array([sampler.labels[t][r, c] for t, r, c in sampler.centres])
    per_tile_class = np.bincount(sampler.centres[:, 0] * 4 + centre_class)
    assert per_tile_class.max() == 100 and len(sampler.counts) <= 8 * 4 * 100
    # the counts stored per candidate are the real patch contents
    for i in (0, len(sampler.centres) // 2, -1):
        t, r, c = sampler.centres[i]
        assert np.allclose(sampler.counts[i] / sampler.counts[i].sum(), sampler.composition(t, r, c))


def test_a_redrawn_epoch_is_counted_once_in_the_report():
    """A run resumed inside an epoch draws that epoch again: its draws are not counted twice."""
    labels = [np.tile(np.arange(4), (8, 2))]
    sampler = PixelBalancedSampler(labels, patch_size=4, num_samples=6, seed=1)
    list(sampler)
    resumed = PixelBalancedSampler(labels, patch_size=4, num_samples=6, seed=1)
    resumed.load_state_dict(sampler.state_dict())
    resumed.set_epoch(0)
    list(resumed)
    assert resumed.report()["draws"] == sampler.report()["draws"] == 6
    assert resumed.report()["sampled"] == sampler.report()["sampled"]
