"""The one rank check: side effects (files, logs) happen once, on rank 0, under torch.distributed."""

from __future__ import annotations

import torch

__all__ = ["is_main_process"]


def is_main_process() -> bool:
    """True in a single process and on rank 0 of an initialised process group."""
    dist = torch.distributed
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0
