"""`monai-pipelines metrics` / calculate_metrics on tiny NIfTI files, same grid and different grids."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from monai_pipelines import cli
from monai_pipelines.metrics.nifti_metrics import calculate_metrics


def _save(path, data, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0)):
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = origin
    nib.save(nib.Nifti1Image(np.asarray(data, np.float32), affine), str(path))
    return path


def _ramp(shape, spacing):
    """HU rising 20 per mm along world x: -600 .. -600 + 20 * extent."""
    x = np.arange(shape[0]) * spacing[0]
    return np.broadcast_to((-600 + 20 * x)[:, None, None], shape).copy()


def run(capsys, *argv):
    code = cli.main(["metrics", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out.strip().splitlines(), err.strip()


def test_same_grid_metrics_and_json(capsys, tmp_path):
    true = _ramp((10, 8, 6), (1, 1, 1))
    _save(tmp_path / "ct.nii.gz", true)
    _save(tmp_path / "pred.nii.gz", true + 10)
    mask = np.zeros(true.shape)
    mask[2:8, 2:6, 1:5] = 1
    _save(tmp_path / "mask.nii.gz", mask)
    code, out, err = run(capsys, "--pred", tmp_path / "pred.nii.gz", "--true", tmp_path / "ct.nii.gz",
                         "--mask", tmp_path / "mask.nii.gz", "--out", tmp_path / "m.json")
    assert code == 0 and err == ""
    assert out[0].startswith("whole volume: MAE 10.00 HU, RMSE 10.00 HU, PSNR") and out[1].startswith("inside mask:")
    saved = json.loads((tmp_path / "m.json").read_text())
    assert saved["resampled"] is False and saved["metrics"]["mae_mask"] == pytest.approx(10, abs=1e-4)
    assert saved["metrics"]["ssim"] == pytest.approx(1.0, abs=1e-3)


def test_prediction_on_another_grid_is_resampled_in_world_space(capsys, tmp_path):
    # true CT on a 1 mm grid, prediction of the same ramp on a 2 x 2 x 3 mm grid (like an MR grid)
    _save(tmp_path / "ct.nii.gz", _ramp((13, 8, 7), (1, 1, 1)))
    _save(tmp_path / "pred.nii.gz", _ramp((7, 4, 3), (2, 2, 3)), spacing=(2, 2, 3))
    mask = np.zeros((13, 8, 7))
    mask[:, :7, :7] = 1  # inside the prediction's field (y <= 6, z <= 6 mm)
    _save(tmp_path / "mask.nii.gz", mask)
    info = {}
    metrics = calculate_metrics(tmp_path / "pred.nii.gz", tmp_path / "ct.nii.gz", tmp_path / "mask.nii.gz", info=info)
    assert info["resampled"] and not info["mask_resampled"] and 0.5 < info["coverage"] < 1
    assert metrics["mae_mask"] == pytest.approx(0, abs=1e-3)  # linear ramp: interpolation is exact in the field
    assert metrics["mae"] > 10  # outside the field the prediction counts as air
    code, out, _ = run(capsys, "--pred", tmp_path / "pred.nii.gz", "--true", tmp_path / "ct.nii.gz")
    assert code == 0 and out[0].startswith("note: ") and "resampled onto the grid of" in out[0]
    assert "7x4x3 @ 2.00x2.00x3.00 mm" in out[0] and "% of it" in out[0]


def test_mask_on_another_grid_is_resampled_nearest(tmp_path):
    true = _ramp((8, 8, 8), (1, 1, 1))
    _save(tmp_path / "ct.nii.gz", true)
    _save(tmp_path / "pred.nii.gz", true + 5)
    _save(tmp_path / "mask.nii.gz", np.ones((4, 4, 4)), spacing=(2, 2, 2))
    info = {}
    metrics = calculate_metrics(tmp_path / "pred.nii.gz", tmp_path / "ct.nii.gz", tmp_path / "mask.nii.gz", info=info)
    assert info["mask_resampled"] and metrics["mae_mask"] == pytest.approx(5, abs=1e-4)


def test_unreadable_file_is_one_line(capsys, tmp_path):
    _save(tmp_path / "ct.nii.gz", np.zeros((4, 4, 4)))
    (tmp_path / "bad.nii.gz").write_bytes(b"not a nifti")
    code, out, err = run(capsys, "--pred", tmp_path / "bad.nii.gz", "--true", tmp_path / "ct.nii.gz")
    assert code == 1 and out == [] and len(err.splitlines()) == 1 and "bad.nii.gz" in err


def test_help():
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["metrics", "--help"])
    assert exit_info.value.code == 0
