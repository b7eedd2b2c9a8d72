"""cache_rate auto: the cached datasets take what fits a share of the available memory, the rest is read again."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.transforms import Compose, Lambdad, RandFlipd

from monai_pipelines.data.cache_budget import (
    CacheBudget,
    available_memory,
    cached_part,
    describe,
    item_nbytes,
    parse_cache_rate,
)
from monai_pipelines.utils.errors import InputError


@pytest.mark.parametrize("value, expected", [("auto", None), ("AUTO", None), (None, None), (0, 0.0), (1, 1.0),
                                             (0.25, 0.25), ("0.5", 0.5)])
def test_parse_cache_rate(value, expected):
    assert parse_cache_rate(value) == expected


@pytest.mark.parametrize("value", [1.5, -0.1, "most", True, [1]])
def test_parse_cache_rate_refuses_in_one_line(value):
    with pytest.raises(InputError, match=r"^--cache_rate: expected a number from 0 to 1 or auto, got .*\.$"):
        parse_cache_rate(value)


def _meminfo(tmp_path, kib: int):
    path = tmp_path / "meminfo"
    path.write_text(f"MemTotal:       99999999 kB\nMemFree:          1000 kB\nMemAvailable:   {kib} kB\n")
    return path


def test_available_memory_reads_memavailable(tmp_path):
    assert available_memory(_meminfo(tmp_path, 2048), cgroup=tmp_path / "no_cgroup") == 2048 * 1024


def test_available_memory_is_bounded_by_the_cgroup_limit(tmp_path):
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    (cgroup / "memory.max").write_text("3000000\n")
    (cgroup / "memory.current").write_text("1000000\n")
    assert available_memory(_meminfo(tmp_path, 10**6), cgroup) == 2000000
    (cgroup / "memory.max").write_text("max\n")  # cgroup v2 without a limit
    assert available_memory(_meminfo(tmp_path, 10**6), cgroup) == 10**9 // 1000 * 1024


def test_available_memory_cgroup_v1(tmp_path):
    v1 = tmp_path / "cgroup" / "memory"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text("5000000\n")
    (v1 / "memory.usage_in_bytes").write_text("4000000\n")
    assert available_memory(tmp_path / "none", tmp_path / "cgroup") == 1000000
    (v1 / "memory.limit_in_bytes").write_text(str(2**63 - 4096))  # v1 without a limit
    assert available_memory(tmp_path / "none", tmp_path / "cgroup") is None


def test_item_nbytes_counts_arrays_and_tensors():
    item = {"image": torch.zeros(3, 4, 4), "label": np.zeros((2, 2), np.int16), "meta": "x",
            "extra": [torch.zeros(2, dtype=torch.float64)]}
    assert item_nbytes(item) == 3 * 16 * 4 + 4 * 2 + 2 * 8


def test_budget_is_handed_out_in_order():
    budget = CacheBudget(total=1000)
    assert budget.take(8, 100) == 8  # the training set first: all 8 fit
    assert budget.take(5, 100) == 2  # the validation set gets what is left
    assert budget.take(3, 100) == 0
    assert CacheBudget(total=None).take(10**6, 10**9) == 10**6  # memory unknown: everything, as MONAI would


def test_budget_for_this_process_is_shared_by_the_node_ranks(monkeypatch):
    monkeypatch.setattr("monai_pipelines.data.cache_budget.available_memory", lambda: 8000)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert CacheBudget.for_this_process(share=0.5).total == 1000


def test_cached_part_stops_at_the_first_random_transform():
    double = Lambdad("x", lambda x: x * 2)
    flip = RandFlipd("x", prob=1.0, spatial_axis=0)
    item = {"x": torch.arange(4.0).reshape(1, 2, 2)}
    torch.testing.assert_close(cached_part(Compose([double, flip]), item)["x"], item["x"] * 2)
    torch.testing.assert_close(cached_part(Compose([flip, double]), item)["x"], item["x"])
    torch.testing.assert_close(cached_part(Compose([double, double]), item)["x"], item["x"] * 4)


def test_the_log_line_says_what_is_cached_and_why():
    line = describe(2, 5, 2**28)
    assert line.startswith("caching 2 of 5 items in memory (0.50 of 1.25 GiB; the rest read on every access)")
    assert "50% of the available memory" in line and "--cache_rate 1 caches all" in line
