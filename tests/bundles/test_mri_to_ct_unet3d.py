"""The mri_to_ct_unet3d bundle driven in-process at tiny size: train, resume, evaluate, export, infer."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import run
from monai.bundle.scripts import ckpt_export

from monai_pipelines.cli import main as cli_main
from monai_pipelines.data.synthetic.head_dataset import generate_head_mri_ct
from monai_pipelines.handlers import load_checkpoint
from monai_pipelines.networks import UNet3D
from monai_pipelines.utils import bundle_root
from monai_pipelines.utils.errors import find_user_error
from tests.bundles.runner import tensorboard_steps

CONFIGS = Path(bundle_root("mri_to_ct_unet3d")) / "configs"
TINY = {"features": [4, 8, 16, 32], "patch_size": [32, 32, 32], "num_workers": 0}


def tiny_dataset(root: Path) -> Path:
    """8 subjects at 32^3, 2 folds, 2 test subjects (also the multi-GPU test's data)."""
    generate_head_mri_ct(root, n_subjects=8, shape=(32, 32, 32), folds=2, test_fraction=0.25)
    return root


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory) -> Path:
    return tiny_dataset(tmp_path_factory.mktemp("head_mri_ct"))


def _train(output_dir: Path, dataset_dir: Path, epochs: int, **overrides) -> None:
    run(
        "training",
        config_file=str(CONFIGS / "train.json"),
        logging_file=False,
        dataset_dir=str(dataset_dir),
        output_dir=str(output_dir),
        epochs=epochs,
        **TINY,
        **overrides,
    )


def test_train_resume_evaluate_export_infer(small_dataset, tmp_path, caplog):
    out = tmp_path / "fold_0"
    _train(out, small_dataset, epochs=1)
    ckpt = out / "checkpoints"
    assert {p.name for p in ckpt.iterdir()} == {"checkpoint_latest.pt", "checkpoint_best.pt", "final_model.pt"}
    record = json.loads((out / "config" / "config.json").read_text())
    settings = record["settings"]
    assert settings["epochs"] == 1 and settings["training_subjects"] == 3 and settings["validation_subjects"] == 3
    assert settings["dataset_dir"] == str(small_dataset) and settings["features"] == TINY["features"]
    assert not [v for v in settings.values() if isinstance(v, str) and v.startswith(("@", "$"))]  # resolved only
    assert record["contract"]["spacing"] == [1.0, 1.0, 1.0]
    assert record["contract"]["network_def"]["features"] == TINY["features"]

    # the same command with more epochs resumes from epoch 1 instead of starting again
    caplog.set_level("INFO")
    _train(out, small_dataset, epochs=2)
    assert "resumed from" in caplog.text
    history = json.loads((out / "metrics" / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]
    assert history[0]["lr"] == pytest.approx(1e-4)  # the rate epoch 1 trained at, not the one after its step
    assert (out / "plots" / "training_curves.png").stat().st_size > 0
    tensorboard = tensorboard_steps(out / "logs")  # the loss, learning rate, metric and image panel per epoch
    for tag in ("lr", "val_loss", "validation/panel"):
        assert tensorboard[tag] == [1, 2], tag
    assert tensorboard["loss"] == list(range(1, len(tensorboard["loss"]) + 1))  # every iteration, resumed too

    # evaluation on the test split: per-subject CSV, summary with model and baseline; the network comes from the
    # checkpoint's contract (no --features given)
    run("evaluating", config_file=[str(CONFIGS / "train.json"), str(CONFIGS / "evaluate.json")],
        logging_file=False, dataset_dir=str(small_dataset), output_dir=str(out), num_workers=0)
    summary = json.loads((out / "metrics" / "test_summary.json").read_text())
    assert summary["subjects"] == 2
    for who in ("model", "baseline"):
        for key in ("mae", "rmse", "psnr", "ssim", "mae_mask", "ssim_mask"):
            assert np.isfinite(summary[who][key]["mean"])
    assert summary["baseline"]["mae"]["mean"] < 400  # a fitted intensity lookup is far from random
    rows = (out / "metrics" / "test_metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 3 and rows[0].startswith("subject,model_mae")
    predictions = sorted((out / "predictions" / "test").glob("*_synthetic_ct.nii.gz"))
    assert len(predictions) == 2
    assert len(list((out / "plots" / "test").glob("*_panel.png"))) == 2

    # evaluation on a chosen list of subjects, from any split (the guide's test_model.py --test-patients; paths name
    # subjects), by `monai-pipelines evaluate`, which runs evaluate.json with --subjects
    manifest = json.loads((small_dataset / "manifest.json").read_text())
    chosen = [manifest["test"][0]["subject"], manifest["training"][0]["subject"]]
    assert cli_main(["evaluate", "mri_to_ct_unet3d", "--test-patients", str(small_dataset / chosen[0]), chosen[1],
                     "--dataset-dir", str(small_dataset), "--output-dir", str(out)]) == 0
    rows = (out / "metrics" / "subjects_metrics.csv").read_text().strip().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == chosen
    assert len(list((out / "predictions" / "subjects").glob("*_synthetic_ct.nii.gz"))) == 2

    # TorchScript export of the trained network, defined by the checkpoint (inference.json's network_def)
    ts_path = tmp_path / "model.ts"
    ckpt_export("network_def", filepath=str(ts_path), ckpt_file=str(ckpt / "checkpoint_best.pt"),
                key_in_ckpt="network", meta_file=str(CONFIGS / "metadata.json"),
                config_file=str(CONFIGS / "inference.json"), ckpt_path=str(ckpt / "checkpoint_best.pt"))
    network = UNet3D(features=TINY["features"])
    load_checkpoint(ckpt / "checkpoint_best.pt", {"network": network})
    network.eval()
    x = torch.rand(1, 1, 32, 32, 32)
    torch.testing.assert_close(torch.jit.load(str(ts_path))(x), network(x))

    # inference on each held-out subject writes exactly what evaluation computed for it (same grid here: 1 mm RAS)
    manifest = json.loads((small_dataset / "manifest.json").read_text())
    for item in manifest["test"]:
        image = small_dataset / item["image"]
        run("inference", config_file=str(CONFIGS / "inference.json"), logging_file=False,
            ckpt_path=str(ckpt / "checkpoint_best.pt"), input_path=str(image),
            label_path=str(small_dataset / item["label"]), output_dir=str(tmp_path / "inference"))
        name = image.name.replace(".nii.gz", "_synthetic_ct.nii.gz")
        written = nib.load(str(tmp_path / "inference" / name))
        source = nib.load(str(image))
        assert written.shape == source.shape
        np.testing.assert_allclose(written.affine, source.affine, atol=1e-5)
        evaluated = np.asarray(nib.load(str(out / "predictions" / "test" / name)).dataobj)
        inferred = np.asarray(written.dataobj)
        # both run the same frozen copy at the same precision (with bf16 on a CPU, eager evaluation beside frozen
        # inference differed by 2 HU)
        diff = np.abs(inferred.astype(int) - evaluated.astype(int))
        print(f"{name}: inference vs evaluation max {diff.max()} HU, {(diff > 0).mean():.2e} of voxels differ")
        assert diff.max() == 0
        assert inferred.min() >= -1024 and inferred.max() <= 3071
        assert (tmp_path / "inference" / image.name.replace(".nii.gz", "_panel.png")).is_file()


def test_evaluation_and_inference_run_one_whole_volume_inferer():
    """Evaluation computes what inference writes: one inferer definition, with the same settings, in both."""
    inference = json.loads((CONFIGS / "inference.json").read_text())
    evaluate = json.loads((CONFIGS / "evaluate.json").read_text())
    assert inference["inferer"] == evaluate["evaluate"]["inferer"]
    assert inference["inferer"]["_target_"] == "monai_pipelines.inferers.WholeVolumeInferer"
    assert "inferer" not in evaluate["evaluate"]["evaluator"]  # wired to evaluate#inferer (run_settings.EVALUATE_IDS)
    for key in ("sw_overlap", "whole_volume_max_voxels"):
        assert inference[key] == evaluate[key], key


def test_override_contradicting_the_trained_model_is_refused(small_dataset, tmp_path):
    out = tmp_path / "run"
    _train(out, small_dataset, epochs=1)
    image = small_dataset / json.loads((small_dataset / "manifest.json").read_text())["test"][0]["image"]
    common = dict(ckpt_path=str(out / "checkpoints" / "checkpoint_best.pt"), input_path=str(image),
                  output_dir=str(tmp_path / "inf"))
    with pytest.raises(RuntimeError) as info:
        run("inference", config_file=str(CONFIGS / "inference.json"), logging_file=False, spacing=[2.0, 2.0, 2.0],
            **common)
    assert "--spacing [2.0, 2.0, 2.0] contradicts the trained model" in str(find_user_error(info.value))
    with pytest.raises(RuntimeError) as info:
        run("evaluating", config_file=[str(CONFIGS / "train.json"), str(CONFIGS / "evaluate.json")],
            logging_file=False, dataset_dir=str(small_dataset), output_dir=str(out), features=[8, 16, 32, 64])
    assert "--features [8, 16, 32, 64] contradicts the trained model" in str(find_user_error(info.value))
    # the value it was trained with is accepted
    run("inference", config_file=str(CONFIGS / "inference.json"), logging_file=False, spacing=[1.0, 1.0, 1.0],
        **common)


@pytest.mark.slow
def test_inference_on_real_larger_volume_keeps_grid(real_data, tmp_path):
    """A real porcine T2 (256x256x94 at 1x1x2.5 mm, LPS-like axes) comes back on its own grid, in HU."""
    network = UNet3D(features=TINY["features"])
    ckpt = tmp_path / "random.pt"
    contract = {  # a coarser working grid keeps the test fast; the output is still on the input grid
        "network_def": {"_target_": "monai_pipelines.networks.UNet3D", "in_channels": 1, "out_channels": 1,
                        "features": TINY["features"], "norm": "batch", "_ids_": {"features": "features"}},
        "orientation": "RAS", "spacing": [2.0, 2.0, 2.0], "intensity_percentiles": [0.5, 99.5],
        "hu_window": [-1024.0, 3071.0], "patch_size": [64, 64, 64],
    }
    torch.save({"network": network.state_dict(), "contract": contract}, ckpt)
    source_path = real_data / "mr_ct_pair" / "mridir_porcine_head_t2_1mm.nii.gz"
    run("inference", config_file=str(CONFIGS / "inference.json"), logging_file=False, ckpt_path=str(ckpt),
        input_path=str(source_path), output_dir=str(tmp_path), sw_overlap=0.0, panels=False)
    written = nib.load(str(tmp_path / "mridir_porcine_head_t2_1mm_synthetic_ct.nii.gz"))
    source = nib.load(str(source_path))
    assert written.shape == source.shape
    np.testing.assert_allclose(written.affine, source.affine, atol=1e-5)
    assert written.get_data_dtype() == np.int16


def test_bad_input_one_line_or_skipped(small_dataset, tmp_path, caplog):
    """A zero-byte T1 stops training with one line naming the file; with skip_corrupted it is skipped and counted."""
    bad = tmp_path / "data"
    shutil.copytree(small_dataset, bad)
    broken = bad / "phantom_001" / "phantom_001_t1.nii.gz"
    broken.write_bytes(b"")
    args = [f"--{k} {json.dumps(v).replace(' ', '')}" for k, v in TINY.items()]
    command = (
        f"{sys.executable} -m monai.bundle run training --config_file {CONFIGS / 'train.json'} --dataset_dir {bad} "
        f"--output_dir {tmp_path / 'run'} --epochs 1 " + " ".join(args)
    )
    result = subprocess.run(command.split(), capture_output=True, text=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"error: {broken}: empty file (0 bytes)" in result.stderr

    caplog.set_level("WARNING")
    _train(tmp_path / "skipping", bad, epochs=1, skip_corrupted=True)
    assert "1 of 3 items skipped" in caplog.text
    settings = json.loads((tmp_path / "skipping" / "config" / "config.json").read_text())["settings"]
    assert settings["training_subjects"] == 2
