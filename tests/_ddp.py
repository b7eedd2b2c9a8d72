"""Run a function on N gloo ranks in spawned processes (CPU DDP for unit tests)."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import torch.distributed as dist
import torch.multiprocessing as mp


def _rank_main(rank: int, fn: Callable, init_file: str, world_size: int, args: tuple) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size,
                            timeout=datetime.timedelta(seconds=30))  # a rank left waiting fails instead of hanging
    fn(rank, *args)
    dist.barrier()
    dist.destroy_process_group()


def run_on_ranks(fn: Callable, tmp_path: Path, *args, world_size: int = 2) -> None:
    """``fn(rank, *args)`` on every rank; ``fn`` must be importable (module level). Raises if a rank raises."""
    mp.start_processes(_rank_main, args=(fn, str(tmp_path / "pg_init"), world_size, args), nprocs=world_size,
                       start_method="spawn")
