"""glioma_grade_resnet50_3d bundle in-process at tiny size: 2 folds x 2 epochs, 24^3 phantoms, tiny widths, 32^3 input.

Checks the seed's per-fold run structure for every fold, the CV summary, evaluation of a checkpoint, and inference
on the real TCGA FLAIR volumes (resampled to the model grid) printing class probabilities.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigWorkflow

from monai_pipelines.data.synthetic.glioma_phantom import generate_glioma
from monai_pipelines.metrics.cv_summary import summarize_folds
from monai_pipelines.utils.paths import repo_root

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


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("glioma")
    data = tiny_dataset(root / "data")
    for fold in (0, 1):
        wf = ConfigWorkflow(
            config_file=str(CONFIGS / "train.json"), workflow_type="train", dataset_dir=str(data), fold=fold,
            output_dir=str(root / "runs" / f"fold_{fold}"), cache_dir=str(root / "cache"), **TINY,
        )
        wf.initialize()
        wf.run()
        wf.finalize()
    return root, data


def test_run_structure_for_every_fold(runs):
    root, _ = runs
    for fold in (0, 1):
        out = root / "runs" / f"fold_{fold}"
        assert {p.name for p in (out / "checkpoints").iterdir()} >= {"checkpoint_best.pt", "last.pt"}
        last = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
        assert set(last) == {"network"} and last["network"]["fc.weight"].shape == (2, 128)
        assert "fc.bias" not in last["network"]  # the cosine head (default with LDAM) has no bias
        for name in PLOTS:
            assert (out / "plots" / f"{name}.png").is_file()
            assert all((out / "plots" / f"{name}_epoch_{e}.png").is_file() for e in (1, 2))
        probs = np.load(out / "predictions" / "val_probs.npy")
        labels = np.load(out / "predictions" / "val_labels.npy")
        assert probs.shape == (5, 2) and np.allclose(probs.sum(1), 1, atol=1e-5) and sorted(labels) == [0, 1, 1, 1, 1]
        assert np.array_equal(np.load(out / "predictions" / "val_preds.npy"), probs.argmax(1))
        doc = json.loads((out / "metrics" / "metrics.json").read_text())
        assert [r["epoch"] for r in doc["history"]] == [1, 2] and doc["completed"]
        assert {"train_loss", "val_loss", "val_auc", "val_f1", "lr"} <= set(doc["history"][0])
        assert set(doc["loss_summary"]) == {"train_loss", "val_loss"}
        assert doc["final"]["per_class"]["LGG"]["support"] == 1 and len(doc["final"]["confusion_matrix"]) == 2
        config = json.loads((out / "config" / "config.json").read_text())["settings"]
        assert config["learning_rate"] == 1e-4 and config["class_counts"] == [1, 4] and config["drw_rule"] == "sqrt_inverse"
        assert list((out / "logs").glob("train_*.log"))


def test_cv_summary(runs):
    root, _ = runs
    summary = summarize_folds(root / "runs")
    assert summary["folds"] == ["fold_0", "fold_1"]
    assert summary["metrics"]["auc"]["n"] == 2 and 0.0 <= summary["metrics"]["auc"]["mean"] <= 1.0
    assert summary["per_class"]["HGG"]["support"] == 8
    assert (root / "runs" / "cv_summary.csv").is_file()


def test_evaluate_config(runs):
    root, data = runs
    out = root / "runs" / "fold_1"
    wf = ConfigWorkflow(
        config_file=[str(CONFIGS / "train.json"), str(CONFIGS / "evaluate.json")], workflow_type="eval",
        run_id="evaluating", dataset_dir=str(data), fold=1, output_dir=str(out), cache_dir=str(root / "cache"), **TINY,
    )
    wf.initialize()
    wf.run()
    report = json.loads((out / "evaluation" / "validation_metrics.json").read_text())
    assert report["n"] == 5 and report["per_class"]["LGG"]["support"] == 1
    assert (out / "evaluation" / "validation_roc_curve.png").is_file()


def test_inference_on_real_tcga(runs, real_data, capsys):
    root, _ = runs
    wf = ConfigWorkflow(
        config_file=str(CONFIGS / "inference.json"), workflow_type="infer", input_path=str(real_data / "tcga"),
        input_pattern="*_fla.nii.gz", ckpt_path=str(root / "runs" / "fold_0" / "checkpoints" / "checkpoint_best.pt"),
        image_size=32, widths=[4, 8, 16, 32], output_dir=str(root / "inference"),
    )
    wf.initialize()
    wf.run()
    printed = capsys.readouterr().out
    assert "file,P(LGG),P(HGG)" in printed
    rows = [line.split(",") for line in (root / "inference" / "predictions.csv").read_text().splitlines()]
    assert [Path(r[0]).name for r in rows] == ["TCGA-DU-7294_fla.nii.gz", "TCGA-FG-6692_fla.nii.gz"]
    for row in rows:
        probs = [float(v) for v in row[1:]]
        assert len(probs) == 2 and abs(sum(probs) - 1) < 1e-4
        assert row[0] in printed
