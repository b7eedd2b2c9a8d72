"""Training data order and augmentation as a pure function of (seed, epoch, position): exact resume, any workers.

A DataLoader's shuffle order comes from the global torch RNG when its iterator is made, and each worker seeds its
transforms from a base seed drawn at the same moment, so what a batch contains depends on when the iterator was
made and on which worker served it. A run resumed mid-epoch, or run with another ``num_workers``, then trains on
other crops and flips. Here the order of epoch ``e`` is a permutation seeded by ``(seed, e)``, every item carries a
seed of its own (:class:`SeededIndex`), and :class:`ItemSeededDataset` re-seeds the dataset's random transforms
with it before loading the item; ``set_epoch(e, start)`` skips the items an interrupted epoch already used.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from monai_pipelines.handlers.rng_state import collect_randomizables

__all__ = ["EpochSeededSampler", "ItemSeededDataset", "ResumableSampler", "SeededIndex", "item_seed"]


class SeededIndex(NamedTuple):
    """A dataset index (int or tuple) with the seed of its random transforms."""

    index: Any
    seed: int


def item_seed(*parts: int) -> int:
    """A well-mixed 32-bit seed from integers (NumPy's SeedSequence)."""
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1)[0])


class ResumableSampler(Sampler):
    """Indices ``0..size-1``, shuffled per epoch by ``(seed, epoch)``, sharded over DDP ranks like
    ``DistributedSampler`` (padded to equal shards when ``even_divisible``)."""

    def __init__(self, size: int, shuffle: bool = True, seed: int = 0, num_replicas: int = 1, rank: int = 0,
                 even_divisible: bool = True) -> None:
        if size < 1:
            raise ValueError("ResumableSampler needs at least one item.")
        self.size, self.shuffle, self.seed = int(size), bool(shuffle), int(seed)
        self.num_replicas, self.rank, self.even_divisible = int(num_replicas), int(rank), bool(even_divisible)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _order(self) -> list[int]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(item_seed(self.seed, self.epoch))
            order = torch.randperm(self.size, generator=generator).tolist()
        else:
            order = list(range(self.size))
        if self.num_replicas > 1 and self.even_divisible and len(order) % self.num_replicas:
            pad = self.num_replicas - len(order) % self.num_replicas
            order += order[:pad]
        return order[self.rank :: self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self._order())

    def __len__(self) -> int:
        if self.num_replicas == 1:
            return self.size
        if self.even_divisible:
            return -(-self.size // self.num_replicas)
        return len(range(self.rank, self.size, self.num_replicas))


class EpochSeededSampler(Sampler):
    """Wraps a sampler: pairs each index with a seed from ``(seed, epoch, rank, position)`` and can start an epoch
    part-way (``set_epoch(epoch, start)``), as a resumed run needs. The inner sampler's ``set_epoch`` is called too,
    so its order must be a function of the epoch for an exact resume (``ResumableSampler``'s is)."""

    def __init__(self, sampler: Sampler, seed: int = 0, rank: int = 0) -> None:
        self.sampler, self.seed, self.rank = sampler, int(seed), int(rank)
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = int(epoch), max(int(start), 0)
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(self.epoch)

    def __iter__(self) -> Iterator[SeededIndex]:
        start, self.start = self.start, 0  # a resumed epoch skips once; the next epoch starts at 0
        for position, index in enumerate(self.sampler):
            if position >= start:
                yield SeededIndex(index, item_seed(self.seed, self.epoch, self.rank, position))

    def __len__(self) -> int:
        return len(self.sampler)  # type: ignore[arg-type]

    def state_dict(self) -> dict:
        inner = self.sampler.state_dict() if hasattr(self.sampler, "state_dict") else {}
        return {"seed": self.seed, "epoch": self.epoch, "sampler": inner}

    def load_state_dict(self, state: dict) -> None:
        """The epoch (what a checkpoint written at the very end records again) and the inner sampler's state; the
        seed stays this sampler's own (per rank under DDP)."""
        self.epoch = int(state.get("epoch", self.epoch))
        if hasattr(self.sampler, "load_state_dict") and state.get("sampler"):
            self.sampler.load_state_dict(state["sampler"])


class ItemSeededDataset(Dataset):
    """``dataset[SeededIndex(i, s)]`` re-seeds ``dataset``'s MONAI random transforms from ``s``, then returns
    ``dataset[i]``; plain indices pass through. Works in DataLoader workers (each seeds its own copy).

    Each transform gets a generator of its own once, which is then re-seeded in place per item: MONAI's
    ``set_random_state(seed=)`` builds a new ``np.random.RandomState`` (64 us; 5 per glacier patch, 10 ms of a
    batch of 32) where ``R.seed`` reaches the same state in about 1 us.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._randomizables: Sequence[Any] | None = None

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    @staticmethod
    def _own_generators(transforms: list[Any]) -> list[Any]:
        """A generator per transform: a transform never seeded still holds MONAI's class-wide ``Randomizable.R``,
        which in-place seeding would share between transforms."""
        for transform in transforms:
            transform.R = np.random.RandomState()
        return transforms

    def __getattr__(self, name: str) -> Any:  # the wrapped dataset's attributes (labels, report, ...)
        if name in ("dataset", "_randomizables"):
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, SeededIndex):
            if self._randomizables is None:
                self._randomizables = self._own_generators(collect_randomizables(self.dataset))
            for j, transform in enumerate(self._randomizables):
                transform.R.seed(item_seed(key.seed, j))  # the state RandomState(seed) has, in place
            key = key.index
        return self.dataset[key]
