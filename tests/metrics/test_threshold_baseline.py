from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import matthews_corrcoef

from monai_pipelines.data.hkh import HKH_BANDS
from monai_pipelines.data.synthetic.glacier_tiles import _write_tile, glacier_tile
from monai_pipelines.metrics.threshold_baseline import ndsi_baseline_report, write_comparison


def test_ndsi_rule_matches_sklearn_and_comparison(tmp_path):
    items, ys, ps = [], [], []
    for seed in (1, 2):
        bands, labels = glacier_tile(seed, size=48)
        (tmp_path / str(seed)).mkdir()
        _write_tile(tmp_path / str(seed), bands, labels, seed)
        items.append({"image": str(tmp_path / str(seed) / "image.tif"), "label": str(tmp_path / str(seed) / "label.tif")})
        ys.append(labels.ravel())
        ps.append((bands[HKH_BANDS.index("ndsi")] > 0.4).astype(int).ravel())
    report = ndsi_baseline_report(items, output_path=tmp_path / "baseline.json")
    expected = matthews_corrcoef(np.concatenate(ys), np.concatenate(ps))
    assert report["mcc"] == pytest.approx(expected)
    assert report["per_class"]["debris"]["recall"] == 0.0  # the rule cannot find debris
    assert json.loads((tmp_path / "baseline.json").read_text())["mcc"] == pytest.approx(expected)
    record = write_comparison(tmp_path / "cmp.json", {"mcc": 0.9, "mean_iou": 0.8}, report)
    assert record["network_mcc"] == 0.9 and record["baseline_ndsi_mcc"] == pytest.approx(expected)
    with pytest.raises(ValueError):
        ndsi_baseline_report([])


def test_only_rank_zero_writes_the_report(tmp_path, monkeypatch):
    bands, labels = glacier_tile(3, size=32)
    _write_tile(tmp_path, bands, labels, 3)
    items = [{"image": str(tmp_path / "image.tif"), "label": str(tmp_path / "label.tif")}]
    monkeypatch.setattr("monai_pipelines.metrics.threshold_baseline.is_main_process", lambda: False)
    report = ndsi_baseline_report(items, output_path=tmp_path / "baseline.json")
    assert report["items"] == 1 and not (tmp_path / "baseline.json").exists()
