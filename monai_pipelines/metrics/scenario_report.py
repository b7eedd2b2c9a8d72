"""Writes the per-scenario evaluation of a synthesis run: metrics.json, metrics.csv and comparison PNGs.

``metrics.json`` is what ``monai-pipelines compare`` reads: ``{"experiment", "split", "data_range",
"scenarios": {code: {"missing", "n_images", "psnr", "psnr_std", "ssim", "ssim_std", "per_sequence"}},
"mean": {"psnr", "ssim"}, "baseline": {"name", "scenarios", "mean"} | null}``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from monai_pipelines.transforms.scenario_mask import SEQUENCES
from monai_pipelines.utils.atomic_write import atomic_path, write_json_atomic
from monai_pipelines.utils.dist import is_main_process

__all__ = ["save_scenario_examples", "write_scenario_report"]


def _mean(results: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    if not results:
        return {"psnr": float("nan"), "ssim": float("nan")}
    return {m: float(np.mean([r[m] for r in results.values()])) for m in ("psnr", "ssim")}


def write_scenario_report(
    output_dir: str | os.PathLike,
    results: Mapping[str, Mapping[str, Any]],
    baseline: Mapping[str, Mapping[str, Any]] | None = None,
    examples: Mapping[str, Sequence[Mapping[str, np.ndarray]]] | None = None,
    experiment: str = "default",
    split: str = "test",
    baseline_name: str = "zero_imputation",
    data_range: float = 1.0,
) -> Path:
    """Write ``metrics/metrics.json`` + ``metrics/metrics.csv`` (+ ``plots/scenario_*.png``) under ``output_dir``
    (rank 0 only: the results are gathered over DDP ranks already)."""
    if not results:
        raise ValueError("no per-scenario results to write (did the evaluator run on an empty datalist?).")
    out = Path(output_dir)
    if not is_main_process():
        return out / "metrics" / "metrics.json"
    (out / "metrics").mkdir(parents=True, exist_ok=True)
    record = {
        "experiment": experiment,
        "split": split,
        "data_range": data_range,
        "scenarios": {k: dict(v) for k, v in results.items()},
        "mean": _mean(results),
        "baseline": None
        if baseline is None
        else {"name": baseline_name, "scenarios": {k: dict(v) for k, v in baseline.items()}, "mean": _mean(baseline)},
    }
    path = out / "metrics" / "metrics.json"
    write_json_atomic(path, record)
    with atomic_path(out / "metrics" / "metrics.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["scenario", "missing", "n_images", "psnr", "psnr_std", "ssim", "ssim_std",
                         f"{baseline_name}_psnr", f"{baseline_name}_ssim"])
        for code, r in results.items():
            b = (baseline or {}).get(code, {})
            writer.writerow([code, "+".join(r["missing"]), r["n_images"], f"{r['psnr']:.4f}", f"{r['psnr_std']:.4f}",
                             f"{r['ssim']:.4f}", f"{r['ssim_std']:.4f}",
                             f"{b['psnr']:.4f}" if b else "", f"{b['ssim']:.4f}" if b else ""])
    if examples:
        save_scenario_examples(out / "plots", examples)
    return path


def save_scenario_examples(
    plot_dir: str | os.PathLike, examples: Mapping[str, Sequence[Mapping[str, np.ndarray]]]
) -> list[Path]:
    """One PNG per scenario: rows = examples; columns = input (missing zeroed), generated, ground truth per sequence."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plot_dir = Path(plot_dir)
    plot_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for scenario, items in examples.items():
        if not items:
            continue
        n_seq = items[0]["target"].shape[0]
        cols = [(kind, c) for kind in ("input", "pred", "target") for c in range(n_seq)]
        fig, axes = plt.subplots(len(items), len(cols), figsize=(1.6 * len(cols), 1.7 * len(items)), squeeze=False)
        for r, item in enumerate(items):
            for c, (kind, ch) in enumerate(cols):
                ax = axes[r, c]
                ax.imshow(item[kind][ch], cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    missing = scenario[ch] == "0"
                    label = {"input": "input", "pred": "generated", "target": "truth"}[kind]
                    ax.set_title(f"{label} {SEQUENCES[ch].upper()}{'*' if missing else ''}", fontsize=7)
        fig.suptitle(f"scenario {scenario} (* = missing, synthesised)", fontsize=9)
        fig.tight_layout()
        path = plot_dir / f"scenario_{scenario}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=80, format="png")
        plt.close(fig)
        written.append(path)
    return written
