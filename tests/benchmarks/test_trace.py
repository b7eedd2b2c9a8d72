"""benchmarks/_trace.py: profiled regions are compared by what they run (operators; on a GPU launches, copies,
synchronisations and busy time)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import torch


@pytest.fixture
def trace_module(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import _trace

    return _trace


def test_the_extra_operators_of_a_region_are_named(trace_module, tmp_path):
    window = trace_module.TraceWindow("cpu")
    x, y = torch.ones(8), torch.full((8,), 1.5)
    window.start()
    for _ in range(2):
        handle = window.enter("slow loop")  # opened and closed apart, as across an engine's callbacks
        for _ in range(4):
            x = torch.mul(x, y)
        window.exit(handle)
        with window.region("fast loop"):
            x = torch.mul(x, y)
    report = window.stop(tmp_path / "trace.json.gz")
    assert "2 x slow loop, 2 x fast loop" in report
    assert "| operators | 4.00 | 1.00 |" in report
    assert "| aten::mul | 4.0 | 1.0 | +3.0 |" in report
    names = {e.get("name") for e in json.loads(gzip.open(tmp_path / "trace.json.gz").read())["traceEvents"]}
    assert {"slow loop", "fast loop"} <= names


def test_gpu_launches_copies_and_waits_are_counted(trace_module):
    """A hand-made CUDA trace: the runtime calls inside each region and the kernels they launched."""
    tid = {"pid": 1, "tid": 7}

    def event(cat, name, ts, dur, **args):
        return {"ph": "X", "cat": cat, "name": name, "ts": ts, "dur": dur, "args": args, **tid}

    trace = {"traceEvents": [
        event("user_annotation", "engine", 0, 100),
        event("cpu_op", "aten::add", 1, 5),
        event("cuda_runtime", "cudaLaunchKernel", 2, 2, correlation=1),
        event("cuda_runtime", "cudaMemcpyAsync", 10, 3, correlation=2),
        event("cuda_runtime", "cudaStreamSynchronize", 20, 40),
        event("user_annotation", "plain", 200, 50),
        event("cuda_runtime", "cudaLaunchKernel", 201, 2, correlation=3),
        {"ph": "X", "cat": "kernel", "name": "k1", "ts": 5, "dur": 30, "args": {"correlation": 1}, "pid": 0, "tid": 3},
        {"ph": "X", "cat": "gpu_memcpy", "name": "m", "ts": 40, "dur": 4, "args": {"correlation": 2}, "pid": 0,
         "tid": 3},
        {"ph": "X", "cat": "kernel", "name": "k3", "ts": 205, "dur": 10, "args": {"correlation": 3}, "pid": 0, "tid": 3},
    ]}
    report = trace_module.compare_regions(trace, ["engine", "plain"])
    for row in ("| host ms | 0.10 | 0.05 |", "| kernel launches | 1.00 | 1.00 |", "| copies | 1.00 | 0.00 |",
                "| synchronisations | 1.00 | 0.00 |", "| waiting in them ms | 0.04 | 0.00 |",
                "| GPU busy ms | 0.03 | 0.01 |", "| aten::add | 1.0 | 0.0 | +1.0 |"):
        assert row in report, report
