"""Per-device speed defaults: data-loader workers and torch threads from the cores."""

from __future__ import annotations

import pytest
import torch

from monai_pipelines.bundle import speed_defaults
from monai_pipelines.bundle.speed_defaults import (
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
