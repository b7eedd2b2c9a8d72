"""Shared fixtures: single-threaded torch, a temporary demo-data cache, the real sample images, and command-line
subprocesses without the optional extras."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("MONAI_PIPELINES_REAL_DATA", REPO_ROOT.parent / "shared" / "data" / "real"))

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

# the commands the tests start run without the optional extras (tests/without_extras/README.md)
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(REPO_ROOT / "tests" / "without_extras"), os.environ.get("PYTHONPATH")) if p)

# The longest test files (a minute or more of subprocess runs each), dealt out first: with xdist's default order (by
# number of tests) they came last and two of them could end up on one worker, the other idle (909 vs 723 s). Keeps
# effect with --no-loadscope-reorder (scripts/test.sh).
LONGEST_FIRST = (
    "tests/bundles/test_kill_resume.py",
    "tests/bundles/test_new_user.py",
    "tests/bundles/test_multi_gpu_train.py",
    "tests/bundles/test_bad_inputs.py",
    "tests/benchmarks/test_bench_scripts.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: the rest keep their order


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Demo data generated during tests goes to one session-wide temporary cache, never ~/.cache."""
    cache = tmp_path_factory.getbasetemp() / "cache"
    monkeypatch.setenv("MONAI_PIPELINES_CACHE", str(cache))


@pytest.fixture
def real_data() -> Path:
    """The real sample images folder, or skip with the reason."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"real sample images not found at {REAL_DATA} (set MONAI_PIPELINES_REAL_DATA)")
    return REAL_DATA


@pytest.fixture
def native_bf16(monkeypatch):
    """Tests of the autocast machinery run it for real, also on a CPU that only emulates bf16 (tiny networks)."""
    from monai_pipelines.engines import amp

    monkeypatch.setattr(amp, "cpu_has_native_bf16", lambda: True)
