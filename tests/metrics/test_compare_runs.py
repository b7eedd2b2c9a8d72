"""`compare`: per-scenario table (Markdown, CSV), bar charts and combined JSON from two metrics.json files."""

from __future__ import annotations

import argparse
import csv
import json

import numpy as np
import pytest

from monai_pipelines.metrics import compare_runs
from monai_pipelines.metrics.scenario_report import write_scenario_report
from monai_pipelines.transforms.scenario_mask import ALL_SCENARIOS


def _results(offset: float) -> dict:
    return {
        str(s): {"missing": ["T1"], "n_images": 4, "psnr": 20.0 + i + offset, "psnr_std": 1.0,
                 "ssim": 0.5 + 0.01 * i + offset / 100, "ssim_std": 0.1, "per_sequence": {}}
        for i, s in enumerate(ALL_SCENARIOS)
    }


def test_compare_two_runs_via_cli(tmp_path):
    a = write_scenario_report(tmp_path / "a", _results(0.0), baseline=_results(-5.0), experiment="baseline")
    b = write_scenario_report(tmp_path / "b", _results(1.5), experiment="optimized")
    parser = argparse.ArgumentParser()
    compare_runs.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["compare", str(a), str(b), "--out", str(tmp_path / "cmp")])
    assert args.func(args) == 0
    out = tmp_path / "cmp"
    for name in ("comparison.md", "comparison.csv", "comparison.json", "comparison.png"):
        assert (out / name).stat().st_size > 0
    rows = list(csv.DictReader(open(out / "comparison.csv")))
    assert [r["scenario"] for r in rows] == [str(s) for s in ALL_SCENARIOS] + ["mean"]
    assert all(float(r["psnr_delta"]) == pytest.approx(1.5) for r in rows)
    assert float(rows[0]["psnr_baseline"]) == 20.0 and float(rows[0]["psnr_optimized"]) == 21.5
    md = (out / "comparison.md").read_text().splitlines()
    assert md[0].startswith("| scenario | missing | psnr_baseline | psnr_optimized | psnr_delta")
    assert len(md) == 2 + 7 and "+1.5000" in md[2]
    combined = json.loads((out / "comparison.json").read_text())
    assert set(combined["runs"]) == {"baseline", "optimized"}
    assert combined["runs"]["baseline"]["baseline"]["mean"]["psnr"] == pytest.approx(np.mean(range(6)) + 15)


def test_runs_of_one_experiment_are_labelled_by_their_folders(tmp_path):
    """Two runs of one experiment were labelled run0 and run1 in the table and the charts' legend."""
    a = write_scenario_report(tmp_path / "lr1e-4" / "eval", _results(0.0), experiment="mmgan")
    b = write_scenario_report(tmp_path / "lr2e-4" / "eval", _results(1.0), experiment="mmgan")
    combined = compare_runs.compare_runs([a, b], tmp_path / "cmp")
    assert list(combined["runs"]) == ["lr1e-4", "lr2e-4"]
    assert "psnr_lr1e-4" in combined["table"][0]
    assert list(compare_runs.compare_runs([a, a], tmp_path / "same")["runs"]) == ["run0", "run1"]


def test_errors_are_one_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        compare_runs.compare_runs([tmp_path / "x.json", tmp_path / "y.json"], tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text('{"scenarios": {}}')
    with pytest.raises(ValueError, match="no 'scenarios'"):
        compare_runs.load_metrics(bad)
    with pytest.raises(ValueError, match="at least two"):
        compare_runs.compare_runs([bad], tmp_path)
