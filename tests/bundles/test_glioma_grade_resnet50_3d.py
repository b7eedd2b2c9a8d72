"""glioma_grade_resnet50_3d bundle in-process at tiny size: 2 folds x 2 epochs, 24^3 phantoms, tiny widths, 32^3 input.

Checks the seed's per-fold run structure for every fold, the CV summary, evaluation of a checkpoint, that inference
equals evaluation on the held-out subjects (the model and input contract come from the trained run), MedicalNet
weights loaded at training only, and inference on the real TCGA FLAIR volumes printing class probabilities.
"""

from __future__ import annotations

import csv
import functools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from monai_pipelines.data.manifest import datalist
from monai_pipelines.data.synthetic.glioma_phantom import generate_glioma
from monai_pipelines.metrics.cv_summary import summarize_folds
from monai_pipelines.networks import resnet50_3d
from monai_pipelines.utils.errors import InputError
from monai_pipelines.utils.paths import repo_root
from tests.bundles.runner import run_workflow, tensorboard_steps

pytestmark = pytest.mark.slow

CONFIGS = repo_root() / "bundles" / "glioma_grade_resnet50_3d" / "configs"
TINY = {
    "epochs": 2,
    "batch_size": 2,
    "num_workers": 0,
    "image_size": 32,
    "spacing": [2.5, 2.5, 2.5],
    "widths": [4, 8, 16, 32],
    "drw_start_epoch": 2,
    "early_stopping_min_epochs": 1,
    "amp": True,
}
PLOTS = ("loss_curve", "learning_curves", "confusion_matrix", "roc_curve", "pr_curve")


def tiny_dataset(root: Path) -> Path:
    """10 glioma phantoms at 24^3, 2 folds: 8 HGG, 2 LGG, one LGG per fold (also the multi-GPU test's data)."""
    generate_glioma(root, n_subjects=10, shape=(24, 24, 24), folds=2)
    return root


def _medicalnet_file(path: Path) -> Path:
    """A MedicalNet-format checkpoint ({'state_dict': {'module.<key>': ...}}) for the tiny network."""
    state = resnet50_3d(widths=TINY["widths"]).state_dict()
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items() if not k.startswith("fc.")}}, path)
    return path


_workflow = functools.partial(run_workflow, "glioma_grade_resnet50_3d")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """Fold 0 starts from MedicalNet-format weights (the file is deleted afterwards), fold 1 from scratch."""
    root = tmp_path_factory.mktemp("glioma")
    data = tiny_dataset(root / "data")
    pretrained = _medicalnet_file(root / "medicalnet.pth")
    for fold, optimizer in ((0, "adam"), (1, "sgd")):
        _workflow("train.json", dataset_dir=str(data), fold=fold, output_dir=str(root / "runs" / f"fold_{fold}"),
                  cache_dir=str(root / "cache"), pretrained_path=str(pretrained) if fold == 0 else None,
                  optimizer=optimizer, **TINY)
    pretrained.unlink()
    return root, data


def test_tensorboard_has_loss_lr_metrics_and_panel(runs):
    root, _ = runs
    tensorboard = tensorboard_steps(root / "runs" / "fold_1" / "logs")
    assert tensorboard["loss"] == list(range(1, len(tensorboard["loss"]) + 1)) and tensorboard["loss"]
    for tag in ("lr", "val_auc", "val_f1", "validation/panel"):
        assert tensorboard[tag] == [1, 2], tag


def test_run_structure_for_every_fold(runs):
    root, _ = runs
    for fold in (0, 1):
        out = root / "runs" / f"fold_{fold}"
        assert {p.name for p in (out / "checkpoints").iterdir()} == {"best.pt", "last.pt"}
        last = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
        assert {"network", "optimizer", "lr_scheduler", "deferred_reweighting", "early_stopping",
                "classification_report_writer", "history", "trainer", "contract"} <= set(last)
        assert last["network"]["fc.weight"].shape == (2, 128) and "fc.bias" in last["network"]  # the seed's linear head
        assert last["deferred_reweighting"]["active"] and last["training_checkpoint"]["epoch"] == 2
        # the temperature fitted on the validation fold travels with the checkpoints
        for name in ("last.pt", "best.pt"):
            scaling = torch.load(out / "checkpoints" / name, weights_only=True)["temperature_scaling"]
            assert scaling["fitted"] and scaling["temperature"] > 0
        for name in PLOTS:
            assert (out / "plots" / f"{name}.png").is_file()
            assert all((out / "plots" / f"{name}_epoch_{e}.png").is_file() for e in (1, 2))
        probs = np.load(out / "predictions" / "val_probs.npy")
        labels = np.load(out / "predictions" / "val_labels.npy")
        assert probs.shape == (5, 2) and np.allclose(probs.sum(1), 1, atol=1e-5) and sorted(labels) == [0, 1, 1, 1, 1]
        assert np.array_equal(np.load(out / "predictions" / "val_preds.npy"), probs.argmax(1))
        doc = json.loads((out / "metrics" / "metrics.json").read_text())
        assert [r["epoch"] for r in doc["history"]] == [1, 2] and doc["completed"]
        assert {"train_loss", "val_loss", "val_auc", "val_f1", "val_ece", "val_ece_uncalibrated", "val_temperature",
                "lr"} <= set(doc["history"][0])
        final = doc["final"]
        best = torch.load(out / "checkpoints" / "best.pt", weights_only=True)["temperature_scaling"]["temperature"]
        assert final["temperature"] == pytest.approx(best) and {"ece", "ece_uncalibrated", "auc"} <= set(final)
        assert set(doc["loss_summary"]) == {"train_loss", "val_loss"}
        assert doc["final"]["per_class"]["LGG"]["support"] == 1 and len(doc["final"]["confusion_matrix"]) == 2
        assert [r["epoch"] for r in json.loads((out / "metrics" / "history.json").read_text())] == [1, 2]
        config = json.loads((out / "config" / "config.json").read_text())["settings"]
        assert config["learning_rate"] == 1e-4 and config["class_counts"] == [1, 4] and config["drw_rule"] == "sqrt_inverse"
        assert config["training_subjects"] == 5 and config["validation_subjects"] == 5
        optimizer = "adam" if fold == 0 else "sgd"
        assert config["optimizer"] == optimizer
        log = next((out / "logs").glob("training_*.log")).read_text()
        assert f"optimizer {optimizer}: {'Adam' if fold == 0 else 'SGD'}(lr=0.0001, weight_decay=0.0001" in log
        assert log.index("optimizer ") < log.index("Epoch[1]")  # at the start of the log
        assert ("momentum_buffer" in str(last["optimizer"]["state"])) == (fold == 1)  # SGD's state, not Adam's


def test_contract_holds_the_input_settings_not_the_pretrained_weights(runs):
    root, _ = runs
    out = root / "runs" / "fold_0"
    contract = torch.load(out / "checkpoints" / "best.pt", weights_only=True)["contract"]
    assert contract["image_size"] == 32 and contract["spacing"] == [2.5, 2.5, 2.5] and contract["orientation"] == "RAS"
    assert contract["modalities"] == ["flair"] and contract["class_names"] == ["LGG", "HGG"]
    assert contract["normalization"] == {"nonzero": True, "channel_wise": True}
    network = contract["network_def"]
    assert network["head"] == "linear" and network["widths"] == [4, 8, 16, 32] and "pretrained_path" not in network
    log = next((out / "logs").glob("training_*.log")).read_text()
    assert "MedicalNet weights from" in log and "medicalnet.pth: loaded" in log


def test_cv_summary(runs):
    root, _ = runs
    summary = summarize_folds(root / "runs")
    assert summary["folds"] == ["fold_0", "fold_1"]
    assert summary["metrics"]["auc"]["n"] == 2 and 0.0 <= summary["metrics"]["auc"]["mean"] <= 1.0
    assert summary["per_class"]["HGG"]["support"] == 8
    assert (root / "runs" / "cv_summary.csv").is_file()


def _inference(root: Path, fold: int, input_path: Path, output_dir: Path, **overrides) -> None:
    _workflow("inference.json", run_id="inference", input_path=str(input_path), output_dir=str(output_dir),
              ckpt_path=str(root / "runs" / f"fold_{fold}" / "checkpoints" / "best.pt"), **overrides)


def test_inference_equals_evaluation_on_held_out_subjects(runs, tmp_path, capsys):
    """The probabilities inference.json writes for fold 1's validation subjects equal those evaluate.json computes
    (both read the model and its input contract from best.pt; no setting of train.json's TINY is repeated)."""
    root, data = runs
    out = root / "runs" / "fold_1"
    _workflow(["train.json", "evaluate.json"], run_id="evaluating", dataset_dir=str(data), fold=1,
              output_dir=str(out), cache_dir=str(root / "cache"), num_workers=0)
    report = json.loads((out / "evaluation" / "validation_metrics.json").read_text())
    assert report["n"] == 5 and report["per_class"]["LGG"]["support"] == 1
    trained_t = torch.load(out / "checkpoints" / "best.pt", weights_only=True)["temperature_scaling"]["temperature"]
    assert report["temperature"] == pytest.approx(trained_t) and {"ece", "ece_uncalibrated"} <= set(report)
    assert (out / "evaluation" / "validation_roc_curve.png").is_file()
    evaluated = np.load(out / "evaluation" / "validation_probs.npy")

    held_out = tmp_path / "held_out"
    held_out.mkdir()
    names = []
    for item in datalist(data / "manifest.json", data, "validation", 1):
        names.append(Path(item["flair"]).name)
        (held_out / names[-1]).symlink_to(item["flair"])
    _inference(root, 1, held_out, tmp_path / "inference")
    assert "file,P(LGG),P(HGG)" in capsys.readouterr().out
    with open(tmp_path / "inference" / "predictions.csv") as f:
        inferred = {Path(row[0]).name: [float(v) for v in row[1:]] for row in csv.reader(f)}
    inferred = np.array([inferred[name] for name in names])
    diff = float(np.abs(inferred - evaluated).max())
    print(f"inference vs evaluation: max abs diff {diff:.3g}")
    assert diff <= 1e-4, diff  # measured 0 (same transforms, same network, fp32 on the CPU)


def test_inference_refuses_a_setting_that_contradicts_the_trained_model(runs, tmp_path, real_data):
    root, _ = runs
    with pytest.raises(RuntimeError) as caught:  # MONAI wraps it; the command line shows the InputError's line
        _inference(root, 0, real_data / "tcga", tmp_path, image_size=48)
    error = caught.value
    while not isinstance(error, InputError) and error.__cause__ is not None:
        error = error.__cause__
    assert isinstance(error, InputError) and "--image_size 48 contradicts the trained model" in str(error)


def test_inference_on_real_tcga(runs, real_data, capsys):
    """Fold 0 was trained from MedicalNet weights whose file no longer exists: inference does not need it."""
    root, _ = runs
    _inference(root, 0, real_data / "tcga", root / "inference", input_pattern="*_fla.nii.gz")
    printed = capsys.readouterr().out
    assert "file,P(LGG),P(HGG)" in printed
    rows = [line.split(",") for line in (root / "inference" / "predictions.csv").read_text().splitlines()]
    assert [Path(r[0]).name for r in rows] == ["TCGA-DU-7294_fla.nii.gz", "TCGA-FG-6692_fla.nii.gz"]
    for row in rows:
        probs = [float(v) for v in row[1:]]
        assert len(probs) == 2 and abs(sum(probs) - 1) < 1e-4
        assert row[0] in printed


def test_a_run_folder_per_training_run(runs, tmp_path):
    """Without output_dir: fold_0/run_YYYYMMDD_HHMMSS/ per run (the document's layout); a finished run is never
    written into again, evaluation reads the newest trained run or the one --run_folder names."""
    root, data = runs
    common = {"bundle_root": str(tmp_path), "dataset_dir": str(data), "cache_dir": str(root / "cache"), **TINY,
              "epochs": 1}
    for _ in range(2):
        _workflow("train.json", **common)
    fold = tmp_path / "runs" / "default" / "fold_0"
    first, second = sorted(p.name for p in fold.iterdir() if p.is_dir())
    assert first.startswith("run_") and second.startswith("run_")
    for name in (first, second):
        assert {p.name for p in (fold / name / "checkpoints").iterdir()} == {"best.pt", "last.pt"}
        assert list((fold / name / "logs").glob("training_*.log"))
    _workflow(["train.json", "evaluate.json"], run_id="evaluating", **common)
    assert (fold / second / "evaluation" / "validation_metrics.json").is_file()
    assert not (fold / first / "evaluation").exists()
    _workflow(["train.json", "evaluate.json"], run_id="evaluating", **{**common, "run_folder": first})
    assert (fold / first / "evaluation" / "validation_metrics.json").is_file()
