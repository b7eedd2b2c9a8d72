"""`monai-pipelines visualize`: a PNG of MRI / synthetic CT / true CT / |error| with the data's voxel aspect."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from monai_pipelines import cli


def _save(path, data, spacing):
    nib.save(nib.Nifti1Image(np.asarray(data, np.float32), np.diag([*spacing, 1.0])), str(path))
    return path


@pytest.fixture
def recorded_aspects(monkeypatch):
    from matplotlib.axes import Axes

    aspects = []
    imshow = Axes.imshow
    monkeypatch.setattr(Axes, "imshow", lambda self, *a, **k: aspects.append(k.get("aspect")) or imshow(self, *a, **k))
    return aspects


def test_panel_of_anisotropic_mri_keeps_voxel_aspect(capsys, tmp_path, recorded_aspects):
    rng = np.random.default_rng(0)
    mri = _save(tmp_path / "t1.nii.gz", rng.random((16, 12, 6)), (1.0, 1.0, 2.5))  # thick axial slices
    pred = _save(tmp_path / "pred.nii.gz", rng.uniform(-1000, 1000, (16, 12, 6)), (1.0, 1.0, 2.5))
    ct = _save(tmp_path / "ct.nii.gz", rng.uniform(-1000, 1000, (16, 12, 15)), (1.0, 1.0, 1.0))
    out = tmp_path / "figs" / "panel.png"
    code = cli.main(["visualize", "--mri", str(mri), "--ct", str(ct), "--pred", str(pred), "--out", str(out),
                     "--grid", "mri"])
    printed = capsys.readouterr().out.splitlines()
    assert code == 0 and printed[-1] == f"wrote {out}"
    assert printed[:-1] == [f"note: {ct} (16x12x15 @ 1.00x1.00x1.00 mm) resampled onto the grid of {mri} "
                            "(16x12x6 @ 1.00x1.00x2.50 mm), covering 100 % of it"]
    assert recorded_aspects == [12 / 12 * 1.0, 2.5, 2.5] * 4  # axial y/x, coronal z/x, sagittal z/y
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] == 4 * 3 * 80


def test_default_grid_is_the_true_ct_and_without_ct_the_prediction(capsys, tmp_path, recorded_aspects):
    rng = np.random.default_rng(1)
    mri = _save(tmp_path / "t1.nii.gz", rng.random((8, 8, 4)), (1.0, 1.0, 2.0))
    pred = _save(tmp_path / "pred.nii.gz", rng.random((8, 8, 4)), (1.0, 1.0, 2.0))
    ct = _save(tmp_path / "ct.nii.gz", rng.random((8, 8, 8)), (1.0, 1.0, 1.0))
    assert cli.main(["visualize", "--mri", str(mri), "--ct", str(ct), "--pred", str(pred),
                     "--out", str(tmp_path / "a.png")]) == 0
    assert len([line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]) == 2
    assert recorded_aspects == [1.0, 1.0, 1.0] * 4
    recorded_aspects.clear()
    assert cli.main(["visualize", "--mri", str(mri), "--pred", str(pred), "--out", str(tmp_path / "b.png")]) == 0
    assert "note:" not in capsys.readouterr().out and recorded_aspects == [1.0, 2.0, 2.0] * 2


def test_help():
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["visualize", "--help"])
    assert exit_info.value.code == 0
