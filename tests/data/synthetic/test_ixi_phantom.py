"""Phantom subjects in the IXI raw layout: names, shared T2/PD grid, misregistered T1, bias fields."""

from __future__ import annotations

import nibabel as nib
import numpy as np

from monai_pipelines.data.ixi import find_ixi_subjects
from monai_pipelines.data.synthetic.ixi_phantom import write_ixi_phantom


def test_ixi_layout_and_properties(tmp_path):
    subjects = write_ixi_phantom(tmp_path, n_subjects=2, shape=(32, 32, 24), spacing=(6.0, 6.0, 6.0))
    write_ixi_phantom(tmp_path / "nopd", n_subjects=1, shape=(32, 32, 24), spacing=(6.0, 6.0, 6.0),
                      sequences=("T1", "T2"))
    complete, incomplete = find_ixi_subjects(tmp_path)
    assert sorted(complete) == subjects == ["IXI900-Phantom-0000", "IXI901-Phantom-0001"]
    assert incomplete == {}
    assert find_ixi_subjects(tmp_path / "nopd")[1] == {"IXI900-Phantom-0000": ["PD"]}
    vols = {s: nib.load(str(complete[subjects[0]][s])) for s in ("T1", "T2", "PD")}
    assert all(v.shape == (32, 32, 24) for v in vols.values())
    t1, t2, pd = (np.asarray(vols[s].dataobj) for s in ("T1", "T2", "PD"))
    # T2 and PD share the head geometry; T1 is moved (its foreground differs from T2's)
    fg = {k: v > 0.2 * v.max() for k, v in {"t1": t1, "t2": t2, "pd": pd}.items()}
    dice = lambda a, b: 2 * (a & b).sum() / (a.sum() + b.sum())  # noqa: E731
    assert dice(fg["t2"], fg["pd"]) > dice(fg["t2"], fg["t1"])
    # deterministic
    again = write_ixi_phantom(tmp_path / "again", n_subjects=1, shape=(32, 32, 24), spacing=(6.0, 6.0, 6.0))
    t1b = np.asarray(nib.load(str(tmp_path / "again" / f"{again[0]}-T1.nii.gz")).dataobj)
    assert np.array_equal(t1, t1b)
