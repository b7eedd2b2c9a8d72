"""Speed settings chosen per device: autocast, fused optimizers, data-loader workers and torch threads.

RunContext takes its defaults from here (``"num_workers": null`` in a bundle's train.json; the torch threads at the
start of every command), so one command is fast on a laptop CPU, a many-core server and a GPU without editing the
config; an explicit ``--num_workers 2`` (or ``OMP_NUM_THREADS``) still wins. ``amp`` defaults to
:func:`default_amp`: on the device types a bundle lists in ``amp_devices``, where autocast measured faster for its
network (a CPU counts only where it computes bf16 natively), and ``channels_last`` to :func:`default_channels_last`
on those in ``channels_last_devices`` (none by default: it made most networks slower), and ``fused_optimizer`` to
:func:`default_fused_optimizer`. Figures behind the choices: benchmarks/RESULTS.md (CPU) and benchmarks/RESULTS_GPU.md.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

__all__ = [
    "available_cores",
    "default_amp",
    "default_channels_last",
    "default_fused_optimizer",
    "default_num_threads",
    "default_num_workers",
    "set_num_threads",
]


def available_cores() -> int:
    """CPU cores this process may use, shared among the processes of one node under torchrun."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", 1))))


def default_amp(device: torch.device | str, amp_devices: Sequence[str] = ("cpu",)) -> bool:
    """Whether ``amp`` is on by default: the device's type is one of ``amp_devices`` and, for a CPU, it computes
    bf16 natively (a CPU that would emulate it stays fp32 without a word; ``--amp true`` there says why it does)."""
    from monai_pipelines.engines.amp import cpu_has_native_bf16

    device_type = torch.device(device).type
    return device_type in _device_types("amp_devices", amp_devices) and (device_type != "cpu" or cpu_has_native_bf16())


def default_channels_last(device: torch.device | str, channels_last_devices: Sequence[str] = (),
                          amp: bool = False) -> bool:
    """Whether ``channels_last`` is on by default: the device's type is one of ``channels_last_devices`` and, on a
    CPU, with ``amp`` (channels-last measured faster there only with bf16 autocast, whose oneDNN convolutions want
    it; in fp32 it was slower for every network)."""
    device_type = torch.device(device).type
    return device_type in _device_types("channels_last_devices", channels_last_devices) and (
        device_type != "cpu" or bool(amp))


def default_fused_optimizer(device: torch.device | str) -> bool:
    """Whether the optimizers run PyTorch's fused kernels (``fused=True``: one pass over all parameters, instead of
    per-parameter or per-list operations with host work per parameter): on the device types torch has them for.
    Their results equal the default implementation's to float rounding (2e-8 after 5 steps); on a 2-core CPU the
    optimizer step of the bundles' networks took 0.19-0.38 of its time, and on a GPU the default one reads every
    parameter's step counter on the host (benchmarks/RESULTS.md, bench_optimizer.py)."""
    return torch.device(device).type in _fused_device_types()


def _fused_device_types() -> frozenset[str]:
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices
    except ImportError:  # a torch without the helper: CUDA has had fused Adam(W) since 2.0
        return frozenset({"cuda"})
    return frozenset(_get_fused_kernels_supported_devices())


def _device_types(name: str, value: Sequence[str]) -> Sequence[str]:
    if isinstance(value, str) or not all(isinstance(d, str) for d in value):
        raise TypeError(f"{name} must be a list of device types such as [\"cpu\", \"cuda\"], got {value!r}.")
    return value


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
