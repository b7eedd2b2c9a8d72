"""Speed settings chosen per device: data-loader workers and torch threads, from the cores.

RunContext takes its defaults from here (``"num_workers": null`` in a bundle's train.json; the torch threads at the
start of every command), so one command is fast on a laptop CPU, a many-core server and a GPU without editing the
config; an explicit ``--num_workers 2`` (or ``OMP_NUM_THREADS``) still wins. Figures behind the choices: benchmarks/RESULTS.md
(there, channels-last made every bundle's network slower on a CPU, so ``channels_last`` stays off by default).
"""

from __future__ import annotations

import os

import torch

__all__ = [
    "available_cores",
    "default_num_threads",
    "default_num_workers",
    "set_num_threads",
]


def available_cores() -> int:
    """CPU cores this process may use, shared among the processes of one node under torchrun."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", 1))))


def default_num_workers(device: torch.device | str) -> int:
    """DataLoader worker processes: on a GPU, every core but the main process's (at most 8); on a CPU, the cores
    compute the step, so workers only where a quarter of the cores can be spared (none up to 4 cores, at most 4)."""
    cores = available_cores()
    if torch.device(device).type == "cuda":
        return min(8, cores - 1)
    return 0 if cores <= 4 else min(4, cores // 4)


def default_num_threads(device: torch.device | str, num_workers: int) -> int:
    """torch compute threads: the cores not given to data-loader workers (at least one)."""
    del device  # the same rule on every device: the main process's ops run on the CPU threads either way
    return max(1, available_cores() - int(num_workers))


def set_num_threads(device: torch.device | str, num_workers: int) -> int:
    """Apply :func:`default_num_threads` (RunContext does, as each command starts), unless the environment sets
    ``OMP_NUM_THREADS`` (the user's choice wins); returns the thread count in use."""
    if not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(default_num_threads(device, num_workers))
    return torch.get_num_threads()
