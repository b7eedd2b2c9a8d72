"""glacier_segmentation bundle driven in-process at tiny size (resnet10, 32-pixel patches, few tiles, 2 epochs).

Checks training outputs, the run contract (bands, band statistics, classes) read back by evaluation and by the
fold-ensemble inference, that inference equals evaluation on a held-out tile, and the pretraining config.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from monai.bundle import ConfigWorkflow

from monai_pipelines.utils.paths import repo_root
from tests.bundles.runner import run_workflow, tensorboard_steps

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
    # the first tiles of the demo set, screened as the bundle's own datalists are
    "train#datalist": "$@run_context.datalist('training', ['image', 'label'], load=@load)[:6]",
    "validate#datalist": "$@run_context.datalist('validation', ['image', 'label'], load=@load)[:3]",
}


_workflow = functools.partial(run_workflow, "glacier_segmentation")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, ConfigWorkflow]:
    import os

    os.environ["MONAI_PIPELINES_CACHE"] = str(tmp_path_factory.getbasetemp() / "cache")
    out = tmp_path_factory.mktemp("glacier") / "fold_0"
    return out, _workflow("train.json", output_dir=str(out), **TINY)


def test_tensorboard_has_each_loss_term_lr_metrics_and_panel(trained):
    out, _ = trained
    tensorboard = tensorboard_steps(out / "logs")
    for tag in ("loss", "loss_focal", "loss_dice", "loss_boundary"):  # the weighted terms of the combined loss
        assert tensorboard[tag] == list(range(1, len(tensorboard[tag]) + 1)) and tensorboard[tag], tag
    for tag in ("lr", "val_mcc", "val_iou_lake", "validation/panel"):
        assert tensorboard[tag] == [1, 2], tag


def test_training_outputs_metrics_checkpoints_and_baseline(trained):
    out, wf = trained
    history = json.loads((out / "metrics" / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]
    report = json.loads((out / "metrics" / "segmentation_report.json").read_text())
    assert report["epoch"] == 2 and np.array(report["confusion_matrix"]).shape == (4, 4)
    keys = ("train_loss", "train_mcc", "train_mean_iou", "val_loss", "val_mcc", "val_mean_iou")
    assert all(isinstance(row.get(k), float) for row in history for k in keys), history
    assert "train_iou_debris" not in history[0]  # the per-class table is the validation's
    trainer, evaluator = wf.parser.get_parsed_content("train#trainer"), wf.parser.get_parsed_content("validate#evaluator")
    # train_mcc is the trainer's confusion matrix over the epoch's training batches, val_loss the evaluator's loss
    assert history[-1]["train_mcc"] == trainer.state.metrics["train_mcc"]
    assert history[-1]["val_loss"] == evaluator.state.metrics["val_loss"] != history[-1]["train_loss"]
    log = next((out / "logs").glob("training_*.log")).read_text()
    for epoch, row in enumerate(history, 1):
        assert (f"Epoch {epoch}/2\nTrain: train_loss: {row['train_loss']:.4f} | train_mcc: {row['train_mcc']:.4f} | "
                f"train_mean_iou: {row['train_mean_iou']:.4f}\nVal:   val_loss: {row['val_loss']:.4f} | ") in log
    # the sampler's expected proportions against the targets are logged, what it drew is saved
    assert "pixel-balanced sampler (32x32 patches" in log and "against targets 10.0/35.0/40.0/15.0 %" in log
    drawn = json.loads((out / "metrics" / "sampler_proportions.json").read_text())
    assert drawn["draws"] == 2 * TINY["samples_per_epoch"] and drawn["targets"]["2"] == 0.4
    table = log[log.rindex("Per-class metrics:"):].splitlines()[1:6]
    assert table[0].split() == ["Class", "IoU", "Prec", "Recall", "F1"]
    debris = report["per_class"]["debris"]
    assert table[3].split() == ["debris"] + [f"{debris[k]:.4f}" for k in ("iou", "precision", "recall", "f1")]
    assert set(report["per_class"]) == {"background", "clean_ice", "debris", "lake"}
    baseline = json.loads((out / "metrics" / "baseline_ndsi.json").read_text())
    assert -1.0 <= baseline["mcc"] <= 1.0 and baseline["items"] == 3
    assert {p.name for p in (out / "checkpoints").iterdir()} == {"checkpoint_latest.pt", "checkpoint_best.pt",
                                                                 "final_model.pt"}
    final = torch.load(out / "checkpoints" / "final_model.pt", weights_only=True)
    assert {"network", "normalizer", "contract"} <= set(final)
    assert all(v.dtype == torch.float16 for v in final["network"].values() if v.is_floating_point())
    assert final["normalizer"] == final["contract"]["band_stats"] and len(final["normalizer"]["mean"]) == 7
    latest = torch.load(out / "checkpoints" / "checkpoint_latest.pt", weights_only=True)
    assert {"sampler", "loss_weight_ramp", "lr_scheduler", "optimizer", "history"} <= set(latest)
    # the MCC ramp reached its final weights in epoch 2 and the optimiser is AdamW at the configured lr
    loss = wf.parser.get_parsed_content("loss")
    assert loss.weights == {"focal": 0.25, "dice": 0.25, "mcc": 0.35, "boundary": 0.15}
    assert isinstance(wf.parser.get_parsed_content("optimizer"), torch.optim.AdamW)
    settings = json.loads((out / "config" / "config.json").read_text())["settings"]
    assert settings["bands"] == ["B2", "B4", "B5", "ndsi", "ndwi", "elevation", "slope"]
    assert settings["band_stats"] == final["normalizer"]


def test_contract_holds_bands_statistics_and_classes(trained):
    out, _ = trained
    contract = json.loads((out / "config" / "contract.json").read_text())
    assert contract["bands"] == ["B2", "B4", "B5", "ndsi", "ndwi", "elevation", "slope"]
    assert contract["num_classes"] == 4 and contract["class_names"][3] == "lake"
    assert contract["network_def"]["backbone"] == "resnet10" and contract["network_def"]["in_channels"] == 7
    stats = contract["band_stats"]
    assert len(stats["mean"]) == len(stats["std"]) == 7 and all(s > 0 for s in stats["std"])


def test_evaluate_reports_network_and_baseline_mcc(trained):
    out, _ = trained
    _workflow(["train.json", "evaluate.json"], run_id="evaluating", output_dir=str(out), **TINY)
    comparison = json.loads((out / "eval" / "comparison.json").read_text())
    assert set(comparison) >= {"network_mcc", "baseline_ndsi_mcc"}
    assert (out / "eval" / "segmentation_report.json").is_file()


def test_evaluate_on_the_test_split(trained):
    """--eval_split test: the held-out tiles nothing chose the checkpoint on (the demo's 4 test tiles of 128^2)."""
    out, _ = trained
    overrides = {k: v for k, v in TINY.items() if k != "validate#datalist"}
    _workflow(["train.json", "evaluate.json"], run_id="evaluating", output_dir=str(out), eval_split="test",
              **overrides)
    report = json.loads((out / "eval" / "segmentation_report.json").read_text())
    assert sum(map(sum, report["confusion_matrix"])) == 4 * 128 * 128


def _inference_vs_evaluation(out: Path, tmp_path: Path, **overrides) -> float:
    """Max abs difference between inference.json's probabilities for a validation tile and evaluate.json's softmax
    output for it (bands, band statistics, texture and network from the checkpoint on both sides; the same plain
    inferer, no TTA); the mask written must be the evaluation's argmax. Both in fp32, where they agree exactly: under
    bf16 autocast (the default on a CPU with native bf16) the two commands' kernels round differently, up to 1e-4,
    which would hide a data-path difference of that size (that both use the same precision settings is
    tests/bundle/test_standard_ids.py's check)."""
    one_tile = {**TINY, "validate#datalist": TINY["validate#datalist"].replace("[:3]", "[:1]"), "amp": False,
                **overrides}
    wf = _workflow(["train.json", "evaluate.json"], run_id="evaluating", output_dir=str(out),
                   eval_dir=str(tmp_path / "eval"), **{"validate#inferer": {"_target_": "SimpleInferer"}}, **one_tile)
    evaluator = wf.parser.get_parsed_content("validate#evaluator")
    evaluated = torch.softmax(evaluator.state.output[0]["pred"][None].float(), 1)[0].numpy()
    tile = Path(wf.parser.get_parsed_content("validate#datalist")[0]["image"])

    _workflow("inference.json", run_id="inference", ckpt_paths=[str(out / "checkpoints" / "checkpoint_best.pt")],
              input_path=str(tile), output_dir=str(tmp_path / "inference"), tta_flips=False, tta_rot90=False,
              overlay=False, save_probabilities=True, amp=False)
    inferred = np.load(tmp_path / "inference" / f"{tile.stem}_probs.npy")
    diff = float(np.abs(inferred - evaluated).max())
    print(f"inference vs evaluation: max abs diff {diff:.3g}")
    assert inferred.shape == evaluated.shape
    with rasterio.open(tmp_path / "inference" / f"{tile.stem}_mask.tif") as mask:
        assert np.array_equal(mask.read(1), evaluated.argmax(0))
    return diff


def test_inference_equals_evaluation_on_a_held_out_tile(trained, tmp_path):
    out, _ = trained
    assert _inference_vs_evaluation(out, tmp_path) <= 1e-5


def test_glcm_is_one_setting_for_training_evaluation_and_inference(tmp_path):
    """--glcm true adds the texture channels in training (in_channels and band statistics follow), the run contract
    records it, and evaluation and inference take it from there without being told (inference equals evaluation)."""
    out = tmp_path / "fold_0"
    _workflow("train.json", output_dir=str(out), glcm=True, **{**TINY, "epochs": 1})
    contract = json.loads((out / "config" / "contract.json").read_text())
    texture = contract["glcm_texture"]
    assert contract["glcm"] is True and texture["bands"] == ["B4"]
    added = len(texture["bands"]) * len(texture["features"])
    assert contract["network_def"]["in_channels"] == 7 + added == len(contract["band_stats"]["mean"])
    assert _inference_vs_evaluation(out, tmp_path, epochs=1) <= 1e-5


def test_boundary_maps_come_from_the_data_pipeline(trained):
    """The boundary term's signed distance maps are made by the loader after the augmentation and handed to the
    loss (28.5 ms per batch of 32 in the step before: CPU work between a GPU forward and backward)."""
    from monai_pipelines.losses.boundary_loss import signed_distance_maps

    _, workflow = trained
    assert workflow.parser.get_parsed_content("train#trainer").loss_kwargs == {"dist_maps": "dist_maps"}
    item = workflow.parser.get_parsed_content("train#dataset")[0]
    assert item["dist_maps"].shape == (4, 32, 32)
    full = signed_distance_maps(np.asarray(item["label"]).astype(np.int64)[None], 4)[0]
    np.testing.assert_array_equal(item["dist_maps"].numpy()[1:], full[1:])
    assert not item["dist_maps"][0].any()  # the background's: the boundary term leaves it out, so it is not made
    # ... which holds only while the loss's boundary term leaves it out: the two settings must agree
    maps = next(t for t in workflow.parser.get_parsed_content("train#augmentation")
                if type(t).__name__ == "SignedDistanceMapsd")
    boundary = workflow.parser.get_parsed_content("loss").terms["boundary"]
    assert maps.transform.include_background == boundary.include_background


def test_pretrain_config_is_phase_a_throughout():
    wf = ConfigWorkflow(config_file=[str(CONFIGS / "train.json"), str(CONFIGS / "pretrain.json")], workflow_type="train")
    parser = wf.parser
    assert parser.get_parsed_content("epochs") == 60 and parser.get_parsed_content("batch_size") == 48
    start = parser.get_parsed_content("mcc_ramp_start_epoch")
    assert start == 61 and parser.get_parsed_content("learning_rate") == 0.0005
    fine = ConfigWorkflow(config_file=str(CONFIGS / "train.json"), workflow_type="train").parser
    assert fine.get_parsed_content("epochs") == 150 and fine.get_parsed_content("batch_size") == 32
    assert fine["lr_scheduler"]["_target_"].endswith("ReduceLROnPlateau") and fine["lr_scheduler"]["mode"] == "max"


def test_fine_tuning_starts_from_the_pretrained_checkpoint(trained, tmp_path):
    out, _ = trained
    pretrained = out / "checkpoints" / "final_model.pt"
    _workflow("train.json", output_dir=str(tmp_path / "fine"), pretrained_checkpoint=str(pretrained),
              **{**TINY, "epochs": 1})
    log = next((tmp_path / "fine" / "logs").glob("training_*.log")).read_text()
    assert f"pretrained weights loaded from {pretrained}: loaded " in log
    assert "missing 0, unexpected 0, shape-mismatched 0 (pretrained on bands ['B2'," in log


def test_inference_on_real_tile_keeps_georeferencing(trained, real_data, tmp_path):
    out, _ = trained
    tile = real_data / "hkh" / "LE07_134040_20070922_clip.tif"
    _workflow("inference.json", run_id="inference",
              ckpt_paths=[str(out / "checkpoints" / "final_model.pt")] * 2,  # a two-member "fold ensemble"
              input_path=str(tile), output_dir=str(tmp_path), tta_rot90=False)
    mask_path = tmp_path / f"{tile.stem}_mask.tif"
    with rasterio.open(tile) as src, rasterio.open(mask_path) as dst:
        assert dst.transform == src.transform and dst.crs == src.crs
        assert (dst.height, dst.width) == (src.height, src.width) and dst.count == 1
        assert dst.read(1).max() <= 3
    assert (tmp_path / f"{tile.stem}_overlay.png").is_file()
    assert json.loads((tmp_path / "predictions.json").read_text())[0]["mask"] == str(mask_path)
