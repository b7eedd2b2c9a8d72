"""EpochSeededSampler: what a checkpoint records and restores."""

from __future__ import annotations

from monai_pipelines.data.epoch_seeded_sampler import EpochSeededSampler, ResumableSampler


def test_loaded_state_restores_the_epoch():
    """A run resumed from a checkpoint written at its very end starts no epoch, so it records the epoch it loaded."""
    sampler = EpochSeededSampler(ResumableSampler(5, seed=3), seed=3)
    sampler.set_epoch(4)
    fresh = EpochSeededSampler(ResumableSampler(5, seed=3), seed=3)
    fresh.load_state_dict(sampler.state_dict())
    assert fresh.epoch == 4 and fresh.state_dict() == sampler.state_dict()
