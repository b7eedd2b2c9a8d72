"""The one rank check: side effects (files, logs) happen once, on rank 0, under torch.distributed."""

from __future__ import annotations

import torch

__all__ = ["gather_shards", "is_main_process"]


def is_main_process() -> bool:
    """True in a single process and on rank 0 of an initialised process group."""
    dist = torch.distributed
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def gather_shards(items: list) -> list:
    """Every rank's ``items`` in the order of the unsharded data (rank ``r`` of ``W`` held positions ``r, r + W``...,
    as ``RunContext.eval_loader`` shards); ``items`` itself in a single process. A collective: call it on every rank.
    """
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return list(items)
    parts: list = [None] * dist.get_world_size()
    dist.all_gather_object(parts, list(items))
    merged = []
    for i in range(max(len(p) for p in parts)):
        merged.extend(p[i] for p in parts if i < len(p))
    return merged
