"""`monai-pipelines compare A/metrics.json B/metrics.json`: per-scenario table, bar charts and combined JSON.

Reads the ``metrics.json`` files written by :func:`monai_pipelines.metrics.scenario_report.write_scenario_report`
(e.g. baseline vs N4-optimized MM-GAN) and writes ``comparison.md``, ``comparison.csv``, ``comparison.json`` and
``comparison.png`` (PSNR and SSIM bars per scenario, the runs side by side) into ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from monai_pipelines.utils.atomic_write import atomic_path, write_json_atomic, write_text_atomic

__all__ = ["add_parser", "compare_runs", "load_metrics"]

METRICS = ("psnr", "ssim")


def load_metrics(path: str | os.PathLike) -> dict[str, Any]:
    """A ``metrics.json`` with per-scenario results; one-line errors when missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: metrics file not found.")
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}).") from None
    scenarios = record.get("scenarios") if isinstance(record, dict) else None
    if not isinstance(scenarios, dict) or not scenarios:
        raise ValueError(f"{path}: no 'scenarios' section with per-scenario results.")
    for code, r in scenarios.items():
        if not all(isinstance(r.get(m), (int, float)) for m in METRICS):
            raise ValueError(f"{path}: scenario {code} lacks numeric psnr/ssim.")
    return record


def _rows(records: Sequence[dict], labels: Sequence[str]) -> list[dict[str, Any]]:
    codes = list(dict.fromkeys(c for r in records for c in r["scenarios"]))
    rows = []
    for code in codes:
        first = next(r["scenarios"][code] for r in records if code in r["scenarios"])
        row: dict[str, Any] = {"scenario": code, "missing": "+".join(first.get("missing", []))}
        for m in METRICS:
            for label, r in zip(labels, records):
                row[f"{m}_{label}"] = r["scenarios"].get(code, {}).get(m, float("nan"))
            if len(records) == 2:
                row[f"{m}_delta"] = row[f"{m}_{labels[1]}"] - row[f"{m}_{labels[0]}"]
        rows.append(row)
    mean = {"scenario": "mean", "missing": ""}
    for key in rows[0]:
        if key not in ("scenario", "missing"):
            mean[key] = float(np.nanmean([row[key] for row in rows]))
    return rows + [mean]


def _markdown(rows: list[dict[str, Any]]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        cells = [f"{v:+.4f}" if k.endswith("_delta") else f"{v:.4f}" if isinstance(v, float) else str(v)
                 for k, v in row.items()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _plot(rows: list[dict[str, Any]], labels: Sequence[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r["scenario"] != "mean"]
    x = np.arange(len(rows))
    width = 0.8 / len(labels)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.1), layout="constrained")
    for ax, m in zip(axes, METRICS):
        for i, label in enumerate(labels):
            ax.bar(x + (i - (len(labels) - 1) / 2) * width, [r[f"{m}_{label}"] for r in rows], width, label=label)
        ax.set_xticks(x, [f"{r['scenario']}\n(-{r['missing']})" for r in rows], fontsize=8)
        ax.set_ylabel(m.upper() + (" (dB)" if m == "psnr" else ""))
        ax.set_title(f"{m.upper()} per scenario (T1 T2 PD; 1 = available)", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside upper center", ncols=len(labels), fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def _distinct_folder_labels(metrics_files: Sequence[str | os.PathLike]) -> list[str]:
    """Each file's folders without the trailing ones all share, then the fewest of them that tell the runs apart
    (``runs/lr1e-4/eval/metrics``, ``runs/lr2e-4/eval/metrics`` -> ``lr1e-4``, ``lr2e-4``); run0, run1, ... only
    for the same folder given twice."""
    folders = [Path(os.path.abspath(p)).parent.parts for p in metrics_files]
    while all(len(f) > 1 for f in folders) and len({f[-1] for f in folders}) == 1:
        folders = [f[:-1] for f in folders]
    for depth in range(1, max(len(f) for f in folders) + 1):
        labels = ["/".join(f[-depth:]) for f in folders]
        if len(set(labels)) == len(labels):
            return labels
    return [f"run{i}" for i in range(len(metrics_files))]


def compare_runs(
    metrics_files: Sequence[str | os.PathLike], out_dir: str | os.PathLike, labels: Sequence[str] | None = None
) -> dict[str, Any]:
    """Compare runs' per-scenario metrics; writes the table (Markdown, CSV), the bar charts and combined JSON."""
    if len(metrics_files) < 2:
        raise ValueError("compare needs at least two metrics.json files.")
    records = [load_metrics(p) for p in metrics_files]
    if labels is None:
        labels = [r.get("experiment") or Path(p).parent.name for r, p in zip(records, metrics_files)]
        if len(set(labels)) < len(labels):
            labels = _distinct_folder_labels(metrics_files)
    labels = [str(label) for label in labels]
    if len(labels) != len(records) or len(set(labels)) != len(labels):
        raise ValueError("--labels must give one distinct label per metrics file.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = _rows(records, labels)
    write_text_atomic(out / "comparison.md", _markdown(rows))
    with atomic_path(out / "comparison.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    _plot(rows, labels, out / "comparison.png")
    combined = {
        "runs": {label: {"file": str(p), **r} for label, p, r in zip(labels, metrics_files, records)},
        "table": rows,
    }
    write_json_atomic(out / "comparison.json", combined)
    return combined


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``compare``."""
    parser = subparsers.add_parser(
        "compare", help="compare runs' per-scenario metrics.json: table, bar charts, combined JSON"
    )
    parser.add_argument("metrics", nargs="+", help="metrics.json files (e.g. baseline then optimized)")
    parser.add_argument("--labels", nargs="+", help="one label per file (default: each file's experiment name)")
    parser.add_argument("--out", default="comparison", help="output folder (default ./comparison)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    combined = compare_runs(args.metrics, args.out, args.labels)
    print(_markdown(combined["table"]), end="")
    print(f"wrote {Path(args.out) / 'comparison.md'}, .csv, .json, .png")
    return 0
