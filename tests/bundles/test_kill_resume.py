"""Every bundle's training, killed with SIGKILL inside an epoch and rerun with the same command, ends exactly where an
uninterrupted run ends: the same weights, optimiser and scheduler state and history, bit for bit, with DataLoader
workers (each bundle's test data at tiny size, a checkpoint every iteration)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from monai_pipelines.handlers.training_checkpoint import checkpoint_position, latest_checkpoint
from monai_pipelines.utils.paths import repo_root
from tests.bundles.runner import BUNDLES, cli, cli_command
from tests.bundles.test_multi_gpu_train import BUNDLES as TINY_SETUPS

pytestmark = pytest.mark.slow

_TIMES = ("time", "timestamp", "elapsed", "duration")


def _same(a: Any, b: Any, where: str = "") -> list[str]:
    """Where two checkpoint payloads differ (wall-clock entries aside)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        same = isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
        return [] if same else [where]
    if isinstance(a, dict) and isinstance(b, dict):
        keys = {k for k in a.keys() | b.keys() if not any(t in str(k).lower() for t in _TIMES)}
        return [d for k in sorted(keys, key=str) for d in _same(a.get(k), b.get(k), f"{where}.{k}")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{where} (length {len(a)} vs {len(b)})"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _same(x, y, f"{where}[{i}]")]
    return [] if a == b or (a != a and b != b) else [f"{where}: {a!r} vs {b!r}"]


def _kill_at(cmd: list[str], ckpt_dir: Path, iteration: int, timeout: float = 300) -> None:
    """Run ``cmd`` and SIGKILL it (and every process it started) once a checkpoint at ``iteration`` exists."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=repo_root(),
                            start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:  # the running training may replace or remove a file while it is read (interim.pt)
                newest = latest_checkpoint(ckpt_dir)
            except FileNotFoundError:
                newest = None
            if newest is not None and (checkpoint_position(newest) or (0, 0))[1] >= iteration:
                break
            assert proc.poll() is None, f"the run ended before iteration {iteration}: {proc.stderr.read()[-2000:]}"
            assert time.monotonic() < deadline, f"no checkpoint at iteration {iteration} within {timeout} s"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("bundle", BUNDLES)
def test_sigkill_inside_an_epoch_then_rerun_equals_an_uninterrupted_run(bundle: str, tmp_path: Path):
    overrides = {**TINY_SETUPS[bundle](tmp_path / "data"), "epochs": 2, "checkpoint_iterations": 1,
                 "num_workers": 2}
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    proc = cli(bundle, "training", **{**overrides, "output_dir": str(straight)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    end = latest_checkpoint(straight / "checkpoints")
    epochs, iterations = checkpoint_position(end)
    per_epoch = iterations // epochs
    kill_at = per_epoch + 1 if per_epoch > 1 else per_epoch  # inside epoch 2 wherever an epoch has 2+ iterations

    cmd = cli_command(bundle, "training", **{**overrides, "output_dir": str(killed)})
    _kill_at(cmd, killed / "checkpoints", kill_at)
    proc = cli(bundle, "training", **{**overrides, "output_dir": str(killed)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resumes from" in proc.stdout + proc.stderr

    a = torch.load(end, map_location="cpu", weights_only=True)
    b = torch.load(latest_checkpoint(killed / "checkpoints"), map_location="cpu", weights_only=True)
    differences = _same(a, b)
    print(f"{bundle}: killed at iteration {kill_at} of {iterations} ({per_epoch} per epoch); "
          f"{len(differences)} differences")
    assert not differences, differences[:20]


def test_two_ranks_killed_inside_an_epoch_resume_to_the_uninterrupted_result(tmp_path: Path):
    """The same under torchrun with 2 CPU ranks (gloo): every rank is killed, the rerun resumes on both."""
    import json
    import sys

    overrides = {**TINY_SETUPS["mri_to_ct_unet3d"](tmp_path / "data"), "epochs": 2, "checkpoint_iterations": 1,
                 "num_workers": 0}
    configs = repo_root() / "bundles" / "mri_to_ct_unet3d" / "configs"

    def command(out: Path) -> list[str]:
        spec = tmp_path / f"{out.name}.json"
        spec.write_text(json.dumps({"config_file": [str(configs / "train.json"), str(configs / "multi_gpu_train.json")],
                                    "logging_file": False, **overrides, "output_dir": str(out)}))
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                "-m", "monai.bundle", "run", "training", "--args_file", str(spec)]

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    proc = subprocess.run(command(straight), capture_output=True, text=True, env=env, timeout=600, cwd=repo_root())
    assert proc.returncode == 0, proc.stderr[-3000:]
    end = latest_checkpoint(straight / "checkpoints")
    epochs, iterations = checkpoint_position(end)
    per_epoch = iterations // epochs
    kill_at = per_epoch + 1 if per_epoch > 1 else per_epoch
    _kill_at(command(killed), killed / "checkpoints", kill_at)
    proc = subprocess.run(command(killed), capture_output=True, text=True, env=env, timeout=600, cwd=repo_root())
    assert proc.returncode == 0, proc.stderr[-3000:]
    a = torch.load(end, map_location="cpu", weights_only=True)
    b = torch.load(latest_checkpoint(killed / "checkpoints"), map_location="cpu", weights_only=True)
    differences = _same(a, b)
    print(f"2 ranks: killed at iteration {kill_at} of {iterations}; {len(differences)} differences")
    assert not differences, differences[:20]
