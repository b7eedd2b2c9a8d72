"""glacier_segmentation bundle driven in-process at tiny size (resnet10, 32-pixel patches, few tiles, 2 epochs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from monai.bundle import ConfigWorkflow

from monai_pipelines.utils.paths import repo_root

pytestmark = pytest.mark.slow

CONFIGS = repo_root() / "bundles" / "glacier_segmentation" / "configs"
TINY = {
    "epochs": 2,
    "batch_size": 4,
    "accumulation_steps": 2,
    "samples_per_epoch": 8,
    "patch_size": 32,
    "num_workers": 0,
    "backbone": "resnet10",
    "mcc_ramp_start_epoch": 2,
    "mcc_ramp_epochs": 1,
    "train#datalist": "$monai_pipelines.data.manifest.datalist(@data.manifest, @data.dataset_dir, 'training', @fold)[:6]",
    "validate#datalist": "$monai_pipelines.data.manifest.datalist(@data.manifest, @data.dataset_dir, 'validation', @fold)[:3]",
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, ConfigWorkflow]:
    import os

    os.environ["MONAI_PIPELINES_CACHE"] = str(tmp_path_factory.getbasetemp() / "cache")
    out = tmp_path_factory.mktemp("glacier") / "fold_0"
    wf = ConfigWorkflow(config_file=str(CONFIGS / "train.json"), workflow_type="train", output_dir=str(out), **TINY)
    wf.initialize()
    wf.run()
    wf.finalize()
    return out, wf


def test_training_outputs_metrics_checkpoints_and_baseline(trained):
    out, wf = trained
    history = json.loads((out / "metrics" / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]
    assert all("val_mcc" in row for row in history)
    report = json.loads((out / "metrics" / "segmentation_report.json").read_text())
    assert report["epoch"] == 2 and np.array(report["confusion_matrix"]).shape == (4, 4)
    assert set(report["per_class"]) == {"background", "clean_ice", "debris", "lake"}
    baseline = json.loads((out / "metrics" / "baseline_ndsi.json").read_text())
    assert -1.0 <= baseline["mcc"] <= 1.0 and baseline["items"] == 3
    final = torch.load(out / "checkpoints" / "final_model.pt", weights_only=True)
    assert {"network", "normalizer"} <= set(final)
    assert all(v.dtype == torch.float16 for v in final["network"].values() if v.is_floating_point())
    assert len(final["normalizer"]["mean"]) == 7
    assert (out / "checkpoints" / "checkpoint_best.pt").is_file()
    # the MCC ramp reached its final weights in epoch 2 and the optimiser is AdamW at the configured lr
    loss = wf.parser.get_parsed_content("loss")
    assert loss.weights == {"focal": 0.25, "dice": 0.25, "mcc": 0.35, "boundary": 0.15}
    assert isinstance(wf.parser.get_parsed_content("optimizer"), torch.optim.AdamW)
    settings = json.loads((out / "config" / "config.json").read_text())["settings"]
    assert settings["bands"] == ["B2", "B4", "B5", "ndsi", "ndwi", "elevation", "slope"]


def test_evaluate_reports_network_and_baseline_mcc(trained):
    out, _ = trained
    wf = ConfigWorkflow(
        config_file=[str(CONFIGS / "train.json"), str(CONFIGS / "evaluate.json")],
        workflow_type="eval", output_dir=str(out), **TINY,
    )
    wf.initialize()
    wf.run()
    comparison = json.loads((out / "eval" / "comparison.json").read_text())
    assert set(comparison) >= {"network_mcc", "baseline_ndsi_mcc"}
    assert (out / "eval" / "segmentation_report.json").is_file()


def test_pretrain_config_is_phase_a_throughout():
    wf = ConfigWorkflow(config_file=[str(CONFIGS / "train.json"), str(CONFIGS / "pretrain.json")], workflow_type="train")
    parser = wf.parser
    assert parser.get_parsed_content("epochs") == 60 and parser.get_parsed_content("batch_size") == 48
    start = parser.get_parsed_content("mcc_ramp_start_epoch")
    assert start == 61 and parser.get_parsed_content("learning_rate") == 0.0005
    fine = ConfigWorkflow(config_file=str(CONFIGS / "train.json"), workflow_type="train").parser
    assert fine.get_parsed_content("epochs") == 150 and fine.get_parsed_content("batch_size") == 32
    assert fine["lr_scheduler"]["_target_"].endswith("ReduceLROnPlateau") and fine["lr_scheduler"]["mode"] == "max"


def test_inference_on_real_tile_keeps_georeferencing(trained, real_data, tmp_path):
    out, _ = trained
    tile = real_data / "hkh" / "LE07_134040_20070922_clip.tif"
    wf = ConfigWorkflow(
        config_file=str(CONFIGS / "inference.json"), workflow_type="infer", backbone="resnet10",
        ckpt_paths=[str(out / "checkpoints" / "final_model.pt")] * 2,  # a two-member "fold ensemble"
        input_path=str(tile), output_dir=str(tmp_path), tta_rot90=False,
    )
    wf.initialize()
    wf.run()
    mask_path = tmp_path / f"{tile.stem}_mask.tif"
    with rasterio.open(tile) as src, rasterio.open(mask_path) as dst:
        assert dst.transform == src.transform and dst.crs == src.crs
        assert (dst.height, dst.width) == (src.height, src.width) and dst.count == 1
        assert dst.read(1).max() <= 3
    assert (tmp_path / f"{tile.stem}_overlay.png").is_file()
    assert json.loads((tmp_path / "predictions.json").read_text())[0]["mask"] == str(mask_path)
