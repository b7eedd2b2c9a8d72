"""The benchmark scripts run end to end at toy sizes and print their comparison tables (they must not rot)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from monai_pipelines.utils.paths import repo_root

BENCH = repo_root() / "benchmarks"


def _run(script: str, *args: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
def test_pix2pix_benchmark_prints_ratios_and_inference_time():
    out = _run("bench_pix2pix.py", "--size", "32", "--num-downs", "5", "--ngf", "4", "--batch", "1",
               "--iterations", "3", "--repeats", "2", "--inference-size", "64")
    rows = [line.split() for line in out.splitlines() if line.startswith(("fp32", "bf16"))]
    assert [r[0] for r in rows] == ["fp32", "bf16", "fp32+channels_last", "bf16+channels_last"]
    for _, plain, engine, ratio, _vs in rows:
        assert abs(float(engine) / float(plain) - float(ratio)) < 0.01
    assert out.count("ms/slice") == 4 and "inference 64x64" in out


@pytest.mark.slow
def test_mri_to_ct_benchmark_prints_overhead_and_speedups():
    out = _run("bench_mri_to_ct_engine.py", "--iterations", "3", "--repeats", "1", "--size", "16")
    assert "engine overhead" in out and out.count("speed-up x") == 4
