"""Per-device speed defaults: autocast where it measured faster, data-loader workers and torch threads."""

from __future__ import annotations

import pytest
import torch

from monai_pipelines.bundle import speed_defaults
from monai_pipelines.bundle.speed_defaults import (
    default_amp,
    default_channels_last,
    default_fused_optimizer,
    default_num_threads,
    default_num_workers,
    set_num_threads,
)


@pytest.mark.parametrize(("cores", "cpu", "cuda"), [(1, 0, 0), (2, 0, 1), (4, 0, 3), (8, 2, 7), (16, 4, 8), (64, 4, 8)])
def test_workers_from_the_cores(monkeypatch, cores, cpu, cuda):
    monkeypatch.setattr(speed_defaults, "available_cores", lambda: cores)
    assert default_num_workers("cpu") == cpu and default_num_workers(torch.device("cuda", 0)) == cuda
    assert default_num_threads("cpu", cpu) == cores - cpu >= 1
    assert default_num_threads("cpu", cores + 3) == 1


def test_cores_shared_by_the_processes_of_a_node(monkeypatch):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    alone = speed_defaults.available_cores()
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(2 * alone))
    assert speed_defaults.available_cores() == 1


def test_set_num_threads_applies_it_unless_omp_num_threads_is_set(monkeypatch):
    monkeypatch.setattr(speed_defaults, "available_cores", lambda: 3)
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        torch.set_num_threads(1)
        assert set_num_threads("cpu", 1) == 1
        monkeypatch.delenv("OMP_NUM_THREADS")
        assert set_num_threads("cpu", 1) == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize(("device", "amp_devices", "native_bf16", "expected"), [
    ("cpu", ["cpu"], True, True),
    ("cpu", ["cpu"], False, False),  # an AVX2 CPU would emulate bf16 (measured 60x slower): fp32, no warning
    ("cuda:1", ["cpu"], True, False),  # launch-bound networks measured no faster with AMP on an H200
    (torch.device("cuda", 0), ["cpu", "cuda"], False, True),
    ("cpu", [], True, False),
])
def test_amp_by_default_on_the_device_types_listed(monkeypatch, device, amp_devices, native_bf16, expected):
    from monai_pipelines.engines import amp

    monkeypatch.setattr(amp, "cpu_has_native_bf16", lambda: native_bf16)
    assert default_amp(device, amp_devices) is expected


def test_amp_devices_must_be_a_list_of_device_types():
    with pytest.raises(TypeError, match="amp_devices must be a list"):
        default_amp("cpu", "cpu")
    with pytest.raises(TypeError, match="channels_last_devices must be a list"):
        default_channels_last("cpu", [torch.device("cpu")], True)


@pytest.mark.parametrize(("device", "devices", "amp", "expected"), [
    ("cpu", ["cpu"], True, True),
    ("cpu", ["cpu"], False, False),  # fp32 convolutions on a CPU measured slower in channels-last
    ("cuda:0", ["cpu", "cuda"], False, True),
    ("cuda:0", ["cpu"], True, False),
    ("cpu", [], True, False),
])
def test_channels_last_by_default_on_the_device_types_listed(device, devices, amp, expected):
    assert default_channels_last(device, devices, amp) is expected


def test_fused_optimizers_where_torch_has_the_kernels(monkeypatch):
    assert default_fused_optimizer("cpu") and default_fused_optimizer(torch.device("cuda", 1))
    monkeypatch.setattr(speed_defaults, "_fused_device_types", lambda: frozenset({"cuda"}))  # an older torch
    assert not default_fused_optimizer("cpu") and default_fused_optimizer("cuda")
