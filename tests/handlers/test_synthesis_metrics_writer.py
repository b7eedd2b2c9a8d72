"""SynthesisMetricsWriter on a tiny Ignite engine: CSV rows, summary mean/std, baseline columns, state.metrics."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from ignite.engine import Engine

from monai_pipelines.handlers.synthesis_metrics_writer import SynthesisMetricsWriter

SHAPE = (1, 10, 10, 10)
OFFSETS = {"s0": 0.05, "s1": 0.10, "s2": 0.30}  # network units; to_hu multiplies by 1000 -> MAE 50 / 100 / 300 HU


def _subject(name):
    rng = np.random.default_rng(int(name[1:]))
    label = torch.as_tensor(rng.uniform(-1, 2, size=SHAPE), dtype=torch.float32)
    mask = torch.zeros(SHAPE)
    mask[:, 2:8, 2:8, 2:8] = 1
    pred = label + OFFSETS[name]
    pred[mask == 0] += 0.1  # larger error outside the mask
    return {"subject": name, "image": label + 1, "label": label, "mask": mask}, pred


def _run(writer, batches, epochs=1):
    """MONAI evaluator style: state.batch holds the items, the output {"pred", "label"} (decollated or batched)."""

    def step(engine, data):
        batch, preds = data
        engine.state.batch = batch  # what the writer reads, as MONAI's evaluator leaves it
        if isinstance(batch, list):
            return [{"pred": p, "label": item["label"]} for item, p in zip(batch, preds)]
        return {"pred": torch.stack(preds), "label": batch["label"]}

    engine = Engine(step)
    writer.attach(engine)
    engine.run(batches, max_epochs=epochs)
    return engine


def _batches(decollated: bool):
    subjects = [_subject(n) for n in OFFSETS]
    groups = [subjects[:2], subjects[2:]]
    out = []
    for group in groups:
        items, preds = [g[0] for g in group], [g[1] for g in group]
        if not decollated:
            items = {k: torch.stack([i[k] for i in items]) if k != "subject" else [i[k] for i in items] for k in items[0]}
        out.append((items, preds))
    return out


@pytest.mark.parametrize("decollated", [True, False])
def test_rows_summary_metrics(tmp_path, decollated):
    writer = SynthesisMetricsWriter(tmp_path / "m", to_hu=lambda x: x * 1000, name="val")
    engine = _run(writer, _batches(decollated), epochs=2)  # second epoch must not duplicate rows
    with open(tmp_path / "m" / "val_metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["subject"] for r in rows] == list(OFFSETS)
    assert list(rows[0]) == ["subject"] + [f"model_{k}{s}" for s in ("", "_mask") for k in ("mae", "rmse", "psnr", "ssim")]
    mae_mask = [float(r["model_mae_mask"]) for r in rows]
    np.testing.assert_allclose(mae_mask, [50, 100, 300], rtol=1e-4)
    assert all(float(r["model_mae"]) > float(r["model_mae_mask"]) for r in rows)
    summary = json.loads((tmp_path / "m" / "val_summary.json").read_text())
    assert summary["subjects"] == 3 and summary["hu_range"] == [-1024.0, 3000.0] and "baseline" not in summary
    assert summary["model"]["mae_mask"]["mean"] == pytest.approx(150, rel=1e-4)
    assert summary["model"]["mae_mask"]["std"] == pytest.approx(np.std([50, 100, 300]), rel=1e-4)
    assert summary["model"]["mae_mask"]["min"] == pytest.approx(50, rel=1e-4)
    assert summary["model"]["mae_mask"]["max"] == pytest.approx(300, rel=1e-4)
    assert engine.state.metrics["mae_mask"] == pytest.approx(150, rel=1e-4)
    assert set(engine.state.metrics) == {f"{k}{s}" for s in ("", "_mask") for k in ("mae", "rmse", "psnr", "ssim")}


def test_baseline_columns_and_no_mask(tmp_path):
    # baseline predicts 0 in network units (0 HU): MAE = mean |label HU|
    writer = SynthesisMetricsWriter(tmp_path, to_hu=lambda x: x * 1000, baseline=lambda img: img * 0, mask_key=None)
    _run(writer, _batches(decollated=True))
    with open(tmp_path / "test_metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["subject"] + [f"{who}_{k}" for who in ("model", "baseline") for k in ("mae", "rmse", "psnr", "ssim")]
    for row, name in zip(rows, OFFSETS):
        label_hu = np.clip(_subject(name)[0]["label"].numpy() * 1000, -1024, 3000)
        assert float(row["baseline_mae"]) == pytest.approx(np.abs(label_hu).mean(), rel=1e-5)
    summary = json.loads((tmp_path / "test_summary.json").read_text())
    assert summary["baseline"]["mae"]["mean"] > summary["model"]["mae"]["mean"]


def test_subject_without_mask_gets_empty_cells(tmp_path):
    (a, pa), (b, pb) = _subject("s0"), _subject("s1")
    del a["mask"]  # first subject has no mask: its *_mask cells stay empty instead of breaking the CSV
    writer = SynthesisMetricsWriter(tmp_path, name="x")
    _run(writer, [([a, b], [pa, pb])])
    with open(tmp_path / "x_metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["model_mae_mask"] == "" and float(rows[1]["model_mae_mask"]) == pytest.approx(0.1, rel=1e-3)
    summary = json.loads((tmp_path / "x_summary.json").read_text())
    assert summary["model"]["mae_mask"]["mean"] == pytest.approx(0.1, rel=1e-3)  # over the subjects that have it


def test_no_subjects_writes_nothing(tmp_path, caplog):
    engine = Engine(lambda e, b: [])
    SynthesisMetricsWriter(tmp_path / "none").attach(engine)
    engine.run([[]], max_epochs=1)
    assert not (tmp_path / "none").exists()
    assert "no subjects" in caplog.text
