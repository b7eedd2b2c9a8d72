"""multi_gpu_evaluate.json: 2 CPU ranks (gloo) evaluate disjoint shards and the reports are written once, equal to a
single-process evaluation (subjects in the same order, same numbers, every predicted volume written)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from monai_pipelines.data.synthetic.thorax_phantom import generate_thorax_phases
from tests.bundles.runner import run_workflow
from tests.bundles.test_ct_phase_pix2pix import TINY
from tests.bundles.test_multi_gpu_train import _torchrun

pytestmark = pytest.mark.slow


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_two_ranks_evaluate_shards_and_write_once(tmp_path: Path):
    data = tmp_path / "data"
    generate_thorax_phases(data, n_subjects=6, n_test=3, shape=(32, 32, 6), folds=2)  # 3 test subjects: 2 + 1
    one, two = tmp_path / "one", tmp_path / "two"
    settings = {**TINY, "dataset_dir": str(data), "num_workers": 0}
    run_workflow("ct_phase_pix2pix", "train.json", output_dir=str(one), epochs=1, **settings)
    shutil.copytree(one, two)
    run_workflow("ct_phase_pix2pix", ["train.json", "evaluate.json"], run_id="evaluating", output_dir=str(one),
                 **settings)
    proc = _torchrun("ct_phase_pix2pix", {**settings, "output_dir": str(two)}, tmp_path / "args.json", "evaluating")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    for name in ("test_metrics.csv", "test_slice_metrics.csv"):
        single, sharded = _rows(one / "metrics" / name), _rows(two / "metrics" / name)
        assert [r.get("subject", r.get("volume")) for r in sharded] == [r.get("subject", r.get("volume")) for r in single]
        for a, b in zip(single, sharded):
            assert {k: round(float(v), 3) for k, v in a.items() if k not in ("subject", "volume")} == \
                   {k: round(float(v), 3) for k, v in b.items() if k not in ("subject", "volume")}
    assert len(_rows(two / "metrics" / "test_metrics.csv")) == 3
    assert sorted(p.name for p in (two / "predictions" / "test").iterdir()) == \
        sorted(p.name for p in (one / "predictions" / "test").iterdir())
    page = (two / "metrics" / "index.html").read_text()
    assert page.count("<h2>") == 3 and (one / "metrics" / "index.html").read_text().count("<h2>") == 3
    assert not list(two.rglob("*.tmp"))
