"""Run a function on N gloo ranks in forked processes (CPU DDP for unit tests)."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _rank_main(rank: int, fn: Callable, init_file: str, world_size: int, args: tuple) -> None:
    torch.set_num_threads(1)  # a forked child must not reuse the parent's OpenMP pool
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size,
                            timeout=datetime.timedelta(seconds=30))  # a rank left waiting fails instead of hanging
    fn(rank, *args)
    dist.barrier()
    dist.destroy_process_group()


def run_on_ranks(fn: Callable, tmp_path: Path, *args, world_size: int = 2) -> None:
    """``fn(rank, *args)`` on every rank. Raises if a rank raises. The ranks are forked: they start with this
    process's imports instead of paying MONAI's import again (about 10 s each on a 2-core CPU)."""
    mp.start_processes(_rank_main, args=(fn, str(tmp_path / "pg_init"), world_size, args), nprocs=world_size,
                       start_method="fork")
