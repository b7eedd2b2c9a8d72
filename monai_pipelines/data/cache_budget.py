"""How much of a dataset a run caches in memory: MONAI's ``cache_rate``, chosen from the memory the process may use.

MONAI's ``CacheDataset`` keeps every cached item decoded in each process that builds it (every DDP rank its own
copy). At the demo sizes that is a few MB; at the source documents' scale it is not: MM-GAN's ~20,000 prepared
256^2 slices are 15.7 GB of float32 per process. ``cache_rate: "auto"`` caches what fits a share of the memory
available to this node's processes (``MemAvailable``, bounded by the cgroup's limit, as on a cluster scheduler),
shared by the ranks of the node; the rest is read from disk on every access, as MONAI does for the items past
``cache_rate``. A number caches that fraction, as in MONAI.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from monai_pipelines.utils.errors import InputError

__all__ = ["AUTO", "CacheBudget", "available_memory", "cached_part", "describe", "item_nbytes", "parse_cache_rate"]

logger = logging.getLogger("monai_pipelines")

AUTO = "auto"
MEMORY_SHARE = 0.5  # of the available memory, for the caches of all of this node's ranks together


def parse_cache_rate(value: Any) -> float | None:
    """``cache_rate`` as given: a fraction in [0, 1], or None for ``"auto"`` (also when not set)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == AUTO):
        return None
    try:
        rate = float(value)
    except (TypeError, ValueError):
        rate = float("nan")
    if isinstance(value, bool) or not 0.0 <= rate <= 1.0:
        raise InputError(f"--cache_rate: expected a number from 0 to 1 or {AUTO}, got {value!r}.")
    return rate


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # cgroup v2 writes "max" when unlimited


def _cgroup_headroom(cgroup: Path) -> int | None:
    """Bytes this process's cgroup may still allocate (v2, then v1), None without a limit."""
    for limit, usage in (("memory.max", "memory.current"), ("memory/memory.limit_in_bytes",
                                                             "memory/memory.usage_in_bytes")):
        cap, used = _read_int(cgroup / limit), _read_int(cgroup / usage)
        if cap is not None and used is not None and cap < 1 << 60:  # v1 writes a huge number when unlimited
            return max(0, cap - used)
    return None


def available_memory(meminfo: str | os.PathLike = "/proc/meminfo",
                     cgroup: str | os.PathLike = "/sys/fs/cgroup") -> int | None:
    """Bytes of memory available to new allocations without swapping (Linux's ``MemAvailable``, at most the
    cgroup's headroom, as under a cluster scheduler's memory limit); None where neither can be read."""
    available = None
    try:
        for line in Path(meminfo).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    headroom = _cgroup_headroom(Path(cgroup))
    if available is None:
        return headroom
    return available if headroom is None else min(available, headroom)


def item_nbytes(item: Any) -> int:
    """Bytes of the arrays and tensors in an item (dictionaries and sequences followed)."""
    if isinstance(item, torch.Tensor):
        return item.element_size() * item.nelement()
    if isinstance(item, np.ndarray):
        return int(item.nbytes)
    if isinstance(item, Mapping):
        return sum(item_nbytes(v) for v in item.values())
    if isinstance(item, (list, tuple)):
        return sum(item_nbytes(v) for v in item)
    return 0


class CacheBudget:
    """The bytes a run's caches may take, handed out to its datasets in the order they are built.

    Args:
        total: bytes for all of this process's caches; None: unknown, everything is cached (MONAI's default).
    """

    def __init__(self, total: int | None) -> None:
        self.total = total
        self.left = total

    @classmethod
    def for_this_process(cls, share: float = MEMORY_SHARE) -> CacheBudget:
        """``share`` of the available memory, divided among this node's ranks (``LOCAL_WORLD_SIZE``)."""
        available = available_memory()
        ranks = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
        return cls(None if available is None else int(share * available / ranks))

    def take(self, items: int, bytes_per_item: int) -> int:
        """How many of ``items`` items of ``bytes_per_item`` to cache, taken from what is left."""
        if self.left is None or bytes_per_item == 0:
            return items
        cached = min(items, self.left // bytes_per_item)
        self.left -= cached * bytes_per_item
        return cached


def cached_part(transform: Any, item: Mapping) -> Any:
    """What MONAI's CacheDataset keeps of ``item`` for a ``Compose``: the transforms before the first random (or
    non-MONAI) one, as its ``_load_cache_item`` applies them."""
    from monai.transforms import RandomizableTrait, Transform

    first_random = transform.get_index_of_first(
        lambda t: isinstance(t, RandomizableTrait) or not isinstance(t, Transform))
    return transform(dict(item), end=first_random, threading=True)


def describe(cached: int, total: int, bytes_per_item: int) -> str:
    """One log line: how many of ``total`` items a dataset caches under ``cache_rate auto``, and their memory."""
    return (f"caching {cached} of {total} items in memory ({cached * bytes_per_item / 2**30:.2f} of "
            f"{total * bytes_per_item / 2**30:.2f} GiB; the rest read on every access): cache_rate auto caches what "
            f"fits {MEMORY_SHARE:.0%} of the available memory, --cache_rate 1 caches all")
