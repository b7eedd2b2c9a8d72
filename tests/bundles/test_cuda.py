"""Every bundle on a CUDA GPU (skipped without one): fp16 autocast with loss scaling and bf16 autocast through the
supervised and GAN trainers, channels-last, resume of an AMP run, evaluation, and torchrun with NCCL on one GPU.

Run on a GPU machine with ``pytest tests/bundles/test_cuda.py -n 4 --dist load``; each bundle at its tiny test size.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from monai_pipelines.handlers import latest_checkpoint
from monai_pipelines.utils.paths import repo_root
from tests.bundles.runner import BUNDLES, cli
from tests.bundles.test_multi_gpu_train import BUNDLES as TINY_SETUPS

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

# each bundle once per autocast dtype: fp16 (GradScaler active) and bf16, with channels-last
CASES = [(bundle, dtype) for bundle in BUNDLES for dtype in ("fp16", "bf16")]


def _tail(proc: subprocess.CompletedProcess) -> str:
    return (proc.stdout + proc.stderr)[-3000:]


def _finite_numbers(rows: list[dict[str, Any]]) -> list[str]:
    """The history entries that are not finite numbers (NaN or inf: a diverged AMP run)."""
    return [f"epoch {row.get('epoch')}: {key}={value}" for row in rows for key, value in row.items()
            if isinstance(value, float) and not math.isfinite(value)]


def _scaler_states(checkpoint: dict[str, Any]) -> dict[str, dict]:
    return {key: value for key, value in checkpoint.items() if "scaler" in key and isinstance(value, dict)}


@pytest.mark.parametrize("bundle,dtype", CASES)
def test_amp_training_resumes_and_evaluates_on_cuda(bundle: str, dtype: str, tmp_path: Path):
    out = tmp_path / "run"
    overrides = {**TINY_SETUPS[bundle](tmp_path / "data"), "output_dir": str(out), "device": "cuda",
                 "amp": "true", "amp_dtype": dtype, "channels_last": "true", "num_workers": 0}
    proc = cli(bundle, "training", **{**overrides, "epochs": 1})
    assert proc.returncode == 0, _tail(proc)
    said = {"fp16": "fp16 autocast with loss scaling", "bf16": "bf16 autocast"}[dtype]
    assert f"device cuda ({said}, channels_last" in proc.stdout + proc.stderr, _tail(proc)

    proc = cli(bundle, "training", **{**overrides, "epochs": 2})  # the same run, one epoch more: resumes
    assert proc.returncode == 0, _tail(proc)
    assert "resumes from" in proc.stdout + proc.stderr, _tail(proc)
    history = json.loads((out / "metrics" / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]
    assert _finite_numbers(history) == []

    checkpoint = torch.load(latest_checkpoint(out / "checkpoints"), map_location="cpu", weights_only=False)
    scalers = _scaler_states(checkpoint)
    if dtype == "fp16":  # loss scaling active and saved with the run, so a resumed run keeps its scale
        assert scalers and all("scale" in state for state in scalers.values()), sorted(checkpoint)
        assert all(state["scale"] > 0 for state in scalers.values())
    else:  # bf16 needs no loss scaling: no active scaler state
        assert all("scale" not in state for state in scalers.values()), scalers

    proc = cli(bundle, "evaluating", **overrides)
    assert proc.returncode == 0, _tail(proc)
    print(f"{bundle} {dtype}: epochs {[row['epoch'] for row in history]}, scalers "
          f"{ {k: v.get('scale') for k, v in scalers.items()} }")


@pytest.mark.parametrize("bundle,dtype", CASES)
def test_inference_on_cuda_computes_as_asked(bundle: str, dtype: str, tmp_path: Path):
    """Inference on the GPU with autocast and channels-last writes what the CPU's fp32 inference writes, to the
    precision's rounding (glacier's fold ensemble ignored ``--amp`` and ``--channels_last`` before 0.7.2)."""
    from tests.bundles.runner import run_bundle
    from tests.bundles.test_inference_precision import _numbers, numbers_within, train_tiny

    args, _ = train_tiny(bundle, tmp_path)
    run_bundle(bundle, "inference", **args, device="cpu", amp=False, output_dir=str(tmp_path / "cpu"))
    run_bundle(bundle, "inference", **args, device="cuda", amp=True, amp_dtype=dtype, channels_last=True,
               output_dir=str(tmp_path / "cuda"))
    differences = numbers_within(_numbers(tmp_path / "cuda"), _numbers(tmp_path / "cpu"))
    print(f"{bundle} {dtype} on CUDA vs fp32 on the CPU: max abs difference {differences}")


@pytest.mark.parametrize("bundle", ["mri_to_ct_unet3d", "ct_phase_pix2pix", "glioma_grade_resnet50_3d"])
def test_torchrun_one_gpu_nccl(bundle: str, tmp_path: Path):
    """multi_gpu_train.json under torchrun on one GPU: the NCCL process group, DDP on cuda:0, bf16 autocast, validation
    metrics gathered over NCCL (glioma's AUC)."""
    configs = repo_root() / "bundles" / bundle / "configs"
    spec = tmp_path / "args.json"
    spec.write_text(json.dumps({
        "config_file": [str(configs / "train.json"), str(configs / "multi_gpu_train.json")],  # the console log on
        **TINY_SETUPS[bundle](tmp_path / "data"), "output_dir": str(tmp_path / "run"), "epochs": 1, "amp": True,
        "amp_dtype": "bf16", "num_workers": 0}))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
           "-m", "monai.bundle", "run", "training", "--args_file", str(spec)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TORCH_DISTRIBUTED_DEBUG": "INFO",
           "PYTHONPATH": os.pathsep.join(p for p in (str(repo_root()), os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=repo_root())
    assert proc.returncode == 0, _tail(proc)
    assert "device cuda:0 (bf16 autocast" in proc.stdout + proc.stderr, _tail(proc)
    assert "1 rank over nccl)" in proc.stdout + proc.stderr, _tail(proc)
    assert latest_checkpoint(tmp_path / "run" / "checkpoints") is not None


@pytest.mark.parametrize("amp", [False, True])
def test_training_step_does_not_wait_for_the_gpu(amp: bool):
    """From the forward pass to the optimiser step (gradient clipping included) the trainer queues work and never
    reads a value back: a read waits for the GPU mid-step, and the step's remaining launches no longer overlap it."""
    from monai.engines.utils import IterationEvents

    from monai_pipelines.engines import SupervisedTrainer

    torch.manual_seed(0)
    device = torch.device("cuda")
    net = torch.nn.Sequential(torch.nn.Conv3d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv3d(8, 1, 1)).to(device)
    data = [{"image": torch.randn(2, 1, 16, 16, 16), "label": torch.randn(2, 1, 16, 16, 16)} for _ in range(3)]
    trainer = SupervisedTrainer(device=device, max_epochs=1, train_data_loader=data, network=net,
                                optimizer=torch.optim.AdamW(net.parameters(), 1e-3), loss_function=torch.nn.MSELoss(),
                                amp=amp, amp_dtype="bf16", grad_clip_norm=1.0)
    trainer.add_event_handler(IterationEvents.FORWARD_COMPLETED, lambda e: torch.cuda.set_sync_debug_mode("error"))
    trainer.add_event_handler(IterationEvents.MODEL_COMPLETED, lambda e: torch.cuda.set_sync_debug_mode("default"))
    try:
        trainer.run()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert trainer.state.iteration == 3
    assert float(trainer.state.grad_norm) > 0  # the norm before clipping, read when wanted


def test_registration_on_the_gpu_finds_the_cpu_transform():
    """MM-GAN inference registers on its device: on CUDA (histogram sums by atomic adds, in another order) the torch
    backend finds the CPU's transform, and both the known motion."""
    import numpy as np

    from monai_pipelines.transforms.rigid_registration import rigid_register
    from tests.transforms.test_rigid_registration import MMGAN_INFERENCE, _errors, _pair, _world

    fixed, f_aff, moving, m_aff, true = _pair()
    points = _world(fixed.shape, f_aff)[fixed > 0.5]
    found = {device: rigid_register(moving, fixed, m_aff, f_aff, device=device, **MMGAN_INFERENCE["registration_kwargs"])
             for device in ("cpu", "cuda")}
    for device, result in found.items():
        assert max(_errors(result.fixed_to_moving, true, points)) < 1.0, device
    rotation, displacement = _errors(found["cuda"].fixed_to_moving, found["cpu"].fixed_to_moving, points)
    print(f"registration cuda vs cpu: {rotation:.4f} deg, at most {displacement:.4f} mm apart over the object")
    assert rotation < 0.05 and displacement < 0.1
    head = fixed > 0.5
    assert np.abs(found["cuda"].resampled - found["cpu"].resampled)[head].mean() < 0.01 * np.abs(moving).max()
