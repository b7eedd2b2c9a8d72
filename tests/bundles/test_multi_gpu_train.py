"""Every bundle's multi_gpu_train.json under torchrun: 2 CPU ranks (gloo) train, write once, and resume together.

Each bundle runs at its single-process test's tiny size: 1 epoch, then the same command with 2 epochs, which must
resume on both ranks (a rank that restarts at epoch 1 would hang the other at the first all-reduce).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from monai_pipelines.handlers import latest_checkpoint
from monai_pipelines.utils.paths import repo_root
from tests.bundles import test_ct_phase_pix2pix as pix2pix_test
from tests.bundles import test_glacier_segmentation as glacier_test
from tests.bundles import test_glioma_grade_resnet50_3d as glioma_test
from tests.bundles import test_mmgan_missing_modality as mmgan_test
from tests.bundles import test_mri_to_ct_unet3d as mri_to_ct_test

pytestmark = pytest.mark.slow


def _mri_to_ct(data: Path) -> dict[str, Any]:
    return {"dataset_dir": str(mri_to_ct_test.tiny_dataset(data)), **mri_to_ct_test.TINY}


def _pix2pix(data: Path) -> dict[str, Any]:
    return {"dataset_dir": str(pix2pix_test.tiny_dataset(data)), **pix2pix_test.TINY, "save_interval": 1}


def _mmgan(data: Path) -> dict[str, Any]:
    return mmgan_test._overrides(mmgan_test._slices_dataset(data), data)  # output_dir is set by the test


def _glioma(data: Path) -> dict[str, Any]:
    # the per-epoch report plots are checked in its own tests: here they would only cost seconds per epoch
    return {"dataset_dir": str(glioma_test.tiny_dataset(data)), "cache_dir": str(data / "cache"), **glioma_test.TINY,
            "per_epoch_plots": False}


def _glacier(data: Path) -> dict[str, Any]:
    return dict(glacier_test.TINY)  # the built-in demo tiles


# bundles whose checkpoints keep no per-epoch snapshots: their rolling latest file must hold epoch 2

BUNDLES: dict[str, Callable[[Path], dict[str, Any]]] = {
    "mri_to_ct_unet3d": _mri_to_ct,
    "ct_phase_pix2pix": _pix2pix,
    "mmgan_missing_modality": _mmgan,
    "glioma_grade_resnet50_3d": _glioma,
    "glacier_segmentation": _glacier,
}


def _torchrun(bundle: str, overrides: dict[str, Any], spec_path: Path, command: str = "training",
              every_id: bool = False) -> subprocess.CompletedProcess:
    """``training`` (multi_gpu_train.json) or ``evaluating`` (multi_gpu_evaluate.json) on 2 ranks: as a user types
    it, or with ``every_id`` (always for evaluating) with every id of its configs resolved on both ranks first."""
    configs = repo_root() / "bundles" / bundle / "configs"
    names = ["train.json", "multi_gpu_train.json"] if command == "training" else \
        ["train.json", "evaluate.json", "multi_gpu_evaluate.json"]
    spec = {"config_file": [str(configs / name) for name in names], "logging_file": False, **overrides}
    if command == "training" and not every_id:
        run = ["-m", "monai.bundle", "run", "training", "--args_file"]
    else:
        run = [str(Path(__file__).with_name("_run_on_ranks.py"))]
        spec["run_id"] = command
    spec_path.write_text(json.dumps(spec))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *run, str(spec_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        p for p in (str(repo_root()), os.environ.get("PYTHONPATH")) if p)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=repo_root())


@pytest.mark.parametrize("bundle", list(BUNDLES))
def test_two_ranks_train_write_once_and_resume(bundle: str, tmp_path: Path):
    overrides = BUNDLES[bundle](tmp_path / "data") | {"num_workers": 0}
    # glioma without output_dir writes fold_0/run_YYYYMMDD_HHMMSS/: the two ranks must choose the same folder (rank 0
    # decides), and --run_folder latest continues it on both
    own_folder = bundle == "glioma_grade_resnet50_3d"
    overrides |= {"bundle_root": str(tmp_path / "bundle")} if own_folder else {"output_dir": str(tmp_path / "run")}
    for epochs in (1, 2):  # the first with every id of train.json + multi_gpu_train.json resolved on both ranks
        again = {"run_folder": "latest"} if own_folder and epochs == 2 else {}
        proc = _torchrun(bundle, overrides | again | {"epochs": epochs}, tmp_path / f"args_{epochs}.json",
                         every_id=epochs == 1)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert epochs == 2 or proc.stdout.count("resolved ") == 2, proc.stdout[-2000:]
    out = tmp_path / "run"
    if own_folder:
        fold = tmp_path / "bundle" / "runs" / "default" / "fold_0"
        (out,) = [p for p in fold.iterdir() if p.is_dir()]
        assert out.name.startswith("run_") and len(list(fold.glob(".run_of_launch_*"))) == 2  # rank 0 chose, twice

    history = json.loads((out / "metrics" / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]  # rank 0 alone writes; the second run resumed
    latest = torch.load(latest_checkpoint(out / "checkpoints"), weights_only=True)
    assert latest["training_checkpoint"]["epoch"] == 2
    if bundle == "glacier_segmentation":  # each rank draws samples_per_epoch // 2 = 4 patches: one batch of 4
        assert latest["trainer"]["epoch_length"] == glacier_test.TINY["samples_per_epoch"] // 2 // 4
    assert not [p for p in out.rglob("*.tmp")]
    assert json.loads((out / "config" / "config.json").read_text())["settings"]
    for jsonl in out.rglob("*.jsonl"):  # per-epoch logs: one line per epoch, not one per rank
        assert len(jsonl.read_text().splitlines()) == 2, jsonl
