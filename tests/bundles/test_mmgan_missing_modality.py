"""Bundle mmgan_missing_modality at tiny size: train (curriculum, checkpoints, resume), evaluate six scenarios, compare."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigWorkflow

from monai_pipelines.data.ixi import normalise_percentile
from monai_pipelines.data.manifest import build_manifest, write_manifest
from monai_pipelines.data.synthetic.head_phantom import make_head_phantom
from monai_pipelines.metrics.compare_runs import compare_runs

CONFIGS = Path(__file__).resolve().parents[2] / "bundles" / "mmgan_missing_modality" / "configs"
SCENARIOS = ["011", "101", "110", "001", "010", "100"]


def _slices_dataset(root: Path, n_subjects: int = 4) -> Path:
    """Registered 3-channel 32x32 slices of head phantoms, as Phase 1 writes them (no registration needed)."""
    items = []
    for i in range(n_subjects):
        p = make_head_phantom(i, shape=(32, 32, 20), spacing=(6.0, 6.0, 6.0), noise=0.01)
        vol = np.stack([normalise_percentile(p.images[s], p.head_mask) for s in ("t1", "t2", "pd")])
        for z in range(4, 16, 2):
            rel = f"train/S{i}_{z:03d}.npy"
            (root / "train").mkdir(parents=True, exist_ok=True)
            np.save(root / rel, np.ascontiguousarray(vol[..., z]))
            items.append({"image": rel, "subject": f"S{i}", "slice": z})
    write_manifest(build_manifest("tiny", items, k=3, seed=0, test_subjects=["S3"], path_keys=["image"]),
                   root / "manifest.json")
    return root


def _overrides(data: Path, out: Path, **kw) -> dict:
    base = dict(dataset_dir=str(data), output_dir=str(out), epochs=2, features=8, batch_size=4, num_workers=0,
                run_name=out.name)
    return base | kw


def _train(**ov) -> None:
    wf = ConfigWorkflow(config_file=str(CONFIGS / "train.json"), workflow_type="train", **ov)
    wf.initialize()
    wf.run()
    wf.finalize()


def _evaluate(**ov) -> dict:
    wf = ConfigWorkflow(config_file=[str(CONFIGS / "train.json"), str(CONFIGS / "evaluate.json")],
                        workflow_type="eval", run_id="evaluating", **ov)
    wf.initialize()
    wf.run()
    wf.finalize()
    return json.loads((Path(ov["output_dir"]) / "metrics" / "metrics.json").read_text())


@pytest.mark.slow
def test_train_resume_evaluate_compare(tmp_path):
    data = _slices_dataset(tmp_path / "data")
    out = tmp_path / "baseline"
    _train(**_overrides(data, out))
    ckpts = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert {"mmgan_epoch1.pth", "mmgan_epoch2.pth", "mmgan_best.pth"} <= set(ckpts)
    state = torch.load(out / "checkpoints" / "mmgan_epoch2.pth", weights_only=True)
    for key in ("network", "discriminator", "optimizer", "d_optimizer", "lr_scheduler", "d_lr_scheduler",
                "trainer", "history", "curriculum"):
        assert key in state, key
    assert state["network"]["final.2.weight"].shape[0] == 3
    history = json.loads((out / "metrics" / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2] and "val_psnr_100" in history[-1]

    # resume: same command with more epochs continues at epoch 3 (curriculum state restored)
    _train(**_overrides(data, out, epochs=3))
    history = json.loads((out / "metrics" / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert (out / "checkpoints" / "mmgan_epoch3.pth").is_file()
    assert sum(torch.load(out / "checkpoints" / "mmgan_epoch3.pth", weights_only=True)["curriculum"]["counts"]
               .values()) == 3 * 3  # 12 training slices (2 subjects) / batch 4 -> 3 batches per epoch

    metrics = _evaluate(**_overrides(data, out, epochs=3))
    assert list(metrics["scenarios"]) == SCENARIOS
    assert list(metrics["baseline"]["scenarios"]) == SCENARIOS
    assert metrics["scenarios"]["001"]["missing"] == ["T1", "T2"]
    for s in SCENARIOS:
        assert metrics["scenarios"][s]["n_images"] == 6
        assert metrics["scenarios"][s]["psnr"] > metrics["baseline"]["scenarios"][s]["psnr"], s
    assert all((out / "plots" / f"scenario_{s}.png").is_file() for s in SCENARIOS)

    other = tmp_path / "optimized"
    (other / "metrics").mkdir(parents=True)
    shifted = dict(metrics, experiment="optimized")
    (other / "metrics" / "metrics.json").write_text(json.dumps(shifted))
    combined = compare_runs([out / "metrics" / "metrics.json", other / "metrics" / "metrics.json"], tmp_path / "cmp")
    assert set(combined["runs"]) == {"baseline", "optimized"} and len(combined["table"]) == 7
