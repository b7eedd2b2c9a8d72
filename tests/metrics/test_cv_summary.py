"""cv-summary: mean/std over folds of final metrics, CLI entry, errors."""

from __future__ import annotations

import argparse
import json

import pytest

from monai_pipelines.metrics.cv_summary import add_parser, summarize_folds


def _fold(root, k, auc, f1, support=(2, 6)):
    final = {"epoch": 3, "accuracy": 0.5 + 0.1 * k, "precision": 0.6, "recall": 0.7, "f1": f1, "auc": auc,
             "per_class": {"LGG": {"precision": 0.5, "recall": 0.4, "f1": 0.44, "support": support[0]},
                           "HGG": {"precision": 0.8, "recall": 0.9, "f1": 0.85, "support": support[1]}}}
    path = root / f"fold_{k}" / "metrics" / "metrics.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"final": final, "last": dict(final, auc=0.5)}))


def test_mean_std_and_files(tmp_path):
    _fold(tmp_path, 0, 0.8, 0.6)
    _fold(tmp_path, 1, 0.9, 0.7)
    _fold(tmp_path, 2, None, 0.8)  # AUC undefined in a fold: left out of mean/std
    summary = summarize_folds(tmp_path)
    assert summary["folds"] == ["fold_0", "fold_1", "fold_2"]
    assert summary["metrics"]["auc"]["mean"] == pytest.approx(0.85) and summary["metrics"]["auc"]["n"] == 2
    assert summary["metrics"]["auc"]["std"] == pytest.approx(0.0707107, rel=1e-5)  # sample std of (0.8, 0.9)
    assert summary["metrics"]["f1"]["mean"] == pytest.approx(0.7) and summary["metrics"]["f1"]["std"] == pytest.approx(0.1)
    assert summary["last_epoch_metrics"]["auc"]["mean"] == 0.5
    assert summary["per_class"]["LGG"]["support"] == 6 and summary["per_class"]["HGG"]["f1"]["mean"] == 0.85
    assert json.loads((tmp_path / "cv_summary.json").read_text())["metrics"]["accuracy"]["mean"] == pytest.approx(0.6)
    assert (tmp_path / "cv_summary.csv").read_text().startswith("metric,mean,std,fold_0,fold_1,fold_2")


def test_command_and_errors(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    with pytest.raises(FileNotFoundError, match="no fold_"):
        summarize_folds(tmp_path)
    _fold(tmp_path, 0, 0.75, 0.5)
    args = parser.parse_args(["cv-summary", str(tmp_path), "--no-write"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "auc" in out and "0.750" in out and not (tmp_path / "cv_summary.json").exists()
    (tmp_path / "fold_1" / "metrics").mkdir(parents=True)
    (tmp_path / "fold_1" / "metrics" / "metrics.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        summarize_folds(tmp_path)
