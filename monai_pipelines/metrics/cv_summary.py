"""Cross-validation summary: mean and std over folds of each fold's final classification metrics.

Reads ``<runs_dir>/fold_<k>/metrics/metrics.json`` (written by ClassificationReportWriter: ``final`` is the epoch
selected on the validation fold, so its figures are optimistic; ``last`` the last epoch, also summarised) and writes
``<runs_dir>/cv_summary.json`` and ``cv_summary.csv``. ``monai-pipelines cv-summary RUNS_DIR`` prints the table.
std is the sample standard deviation (ddof 1) over folds, 0 for a single fold.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from monai_pipelines.utils.atomic_write import atomic_path, write_json_atomic

__all__ = ["summarize_folds", "add_parser"]

SUMMARY_METRICS = ("accuracy", "precision", "recall", "f1", "auc", "ece", "ece_uncalibrated")
PER_CLASS_METRICS = ("precision", "recall", "f1")


def _stats(values: list[float | None]) -> dict[str, Any]:
    finite = np.array([v for v in values if isinstance(v, (int, float)) and math.isfinite(v)], dtype=np.float64)
    if not len(finite):
        return {"mean": None, "std": None, "n": 0, "values": values}
    std = float(finite.std(ddof=1)) if len(finite) > 1 else 0.0
    return {"mean": float(finite.mean()), "std": std, "n": int(len(finite)), "values": values}


def _fold_metrics(fold: Path) -> Path | None:
    """``fold/metrics/metrics.json``, else that of the newest ``fold/run_*/`` run folder holding one."""
    direct = fold / "metrics" / "metrics.json"
    if direct.is_file():
        return direct
    runs = sorted(fold.glob("run_*/metrics/metrics.json"), key=lambda p: p.parent.parent.name)
    return runs[-1] if runs else None


def summarize_folds(runs_dir: str | os.PathLike, write: bool = True) -> dict[str, Any]:
    """Summary over ``fold_*/metrics/metrics.json`` (or each fold's newest ``fold_*/run_*/`` with one) in
    ``runs_dir`` (final = each fold's selected epoch)."""
    root = Path(runs_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: runs folder not found.")
    folds = []
    for folder in sorted(root.glob("fold_*"), key=lambda p: int(m.group(1)) if (m := re.search(r"(\d+)$", p.name)) else 0):
        path = _fold_metrics(folder)
        if path is None:
            continue
        try:
            document = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e}).") from None
        if not isinstance(document.get("final"), dict):
            raise ValueError(f"{path}: has no final metrics (the run did not validate).")
        folds.append((folder.name, document))
    if not folds:
        raise FileNotFoundError(f"{root}: no fold_*/metrics/metrics.json found.")
    finals = [doc["final"] for _, doc in folds]
    summary: dict[str, Any] = {
        "runs_dir": str(root),
        "folds": [name for name, _ in folds],
        "epochs": [f.get("epoch") for f in finals],
        "metrics": {k: _stats([f.get(k) for f in finals]) for k in SUMMARY_METRICS},
        "per_class": {},
    }
    lasts = [doc.get("last") for _, doc in folds]
    if all(isinstance(last, dict) for last in lasts):  # the last epoch, free of best-epoch selection on validation
        summary["last_epoch_metrics"] = {k: _stats([last.get(k) for last in lasts]) for k in SUMMARY_METRICS}
    class_names = list(finals[0].get("per_class", {}))
    for name in class_names:
        rows = [f.get("per_class", {}).get(name, {}) for f in finals]
        summary["per_class"][name] = {k: _stats([r.get(k) for r in rows]) for k in PER_CLASS_METRICS}
        summary["per_class"][name]["support"] = int(sum(r.get("support", 0) for r in rows))
    if write:
        write_json_atomic(root / "cv_summary.json", summary, indent=1)
        with atomic_path(root / "cv_summary.csv") as tmp, open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["metric", "mean", "std", *summary["folds"]])
            for key, row in _table(summary):
                writer.writerow([key, row["mean"], row["std"], *row["values"]])
    return summary


def _table(summary: dict[str, Any]) -> list[tuple[str, dict]]:
    rows = list(summary["metrics"].items())
    for name, stats in summary["per_class"].items():
        rows += [(f"{name}_{k}", stats[k]) for k in PER_CLASS_METRICS]
    return rows


def format_summary(summary: dict[str, Any]) -> str:
    """A plain-text table: metric, mean +- std, per-fold values."""
    lines = [f"{len(summary['folds'])} folds in {summary['runs_dir']}", f"{'metric':<16} {'mean':>7} {'std':>7}  folds"]
    rows = _table(summary) + [(f"last_{k}", v) for k, v in summary.get("last_epoch_metrics", {}).items()]
    for key, row in rows:
        values = " ".join("   nan" if v is None else f"{v:6.3f}" for v in row["values"])
        mean = "nan" if row["mean"] is None else f"{row['mean']:.3f}"
        std = "nan" if row["std"] is None else f"{row['std']:.3f}"
        lines.append(f"{key:<16} {mean:>7} {std:>7}  {values}")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    summary = summarize_folds(args.runs_dir, write=not args.no_write)
    print(format_summary(summary))
    if not args.no_write:
        print(f"written: {Path(args.runs_dir) / 'cv_summary.json'}, cv_summary.csv")
    return 0


def add_parser(subparsers: Any) -> None:
    """``monai-pipelines cv-summary RUNS_DIR``."""
    parser = subparsers.add_parser("cv-summary", help="mean and std over cross-validation folds of final metrics")
    parser.add_argument("runs_dir", help="folder holding fold_<k>/metrics/metrics.json (e.g. bundles/X/runs/default)")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write cv_summary.json/.csv")
    parser.set_defaults(func=_run)


if __name__ == "__main__":  # usable before the command is registered: python -m monai_pipelines.metrics.cv_summary
    _parser = argparse.ArgumentParser(prog="cv-summary")
    add_parser(_parser.add_subparsers(dest="command", required=True))
    _args = _parser.parse_args(["cv-summary", *sys.argv[1:]])
    try:
        sys.exit(_args.func(_args))
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
