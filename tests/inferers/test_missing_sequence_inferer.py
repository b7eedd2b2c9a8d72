"""MissingSequenceInferer: scenario from the inputs, geometry kept (orientation, non-square slices), outputs."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch
from scipy import ndimage

from monai_pipelines.data.ixi import head_mask, normalise_percentile
from monai_pipelines.data.synthetic.head_phantom import make_head_phantom, save_nifti
from monai_pipelines.inferers.missing_sequence_inferer import MissingSequenceInferer
from monai_pipelines.utils.errors import InputError


class CopyChannel(torch.nn.Module):
    """Stand-in generator: every output channel is input channel ``src`` (makes the geometry checkable)."""

    def __init__(self, src: int) -> None:
        super().__init__()
        self.src = src
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.src : self.src + 1].expand(-1, 3, -1, -1) + 0 * self.dummy


def _subject(tmp_path, sequences=("T2", "PD"), axcodes=("L", "P", "S"), shape=(28, 20, 16)):
    """Co-registered phantom sequences on a non-square, non-RAS grid."""
    p = make_head_phantom(3, shape=shape, spacing=(6.0, 8.0, 8.0), sequences=("t1", "t2", "pd"), noise=0.01)
    ornt = nib.orientations.ornt_transform(nib.orientations.axcodes2ornt("RAS"), nib.orientations.axcodes2ornt(axcodes))
    affine = p.affine @ nib.orientations.inv_ornt_aff(ornt, shape)
    files = {}
    for seq in sequences:
        data = nib.orientations.apply_orientation(p.images[seq.lower()], ornt)
        files[seq] = save_nifti(data, affine, tmp_path / f"IXI950-Phantom-0001-{seq}.nii.gz")
    return files, affine


def test_scenario_codes():
    assert MissingSequenceInferer.scenario({"T1": "a", "T2": "b"}) == "110"
    assert MissingSequenceInferer.scenario({"T1": None, "T2": "b", "PD": ""}) == "010"
    for bad in ({}, {"T1": "a", "T2": "b", "PD": "c"}, {"FLAIR": "x", "T2": "b"}):
        with pytest.raises(ValueError):
            MissingSequenceInferer.scenario(bad)


@pytest.mark.parametrize("size", [None, 20])
def test_geometry_and_outputs(tmp_path, size):
    files, affine = _subject(tmp_path)
    inferer = MissingSequenceInferer(CopyChannel(src=1), spatial_size=size or 28, register=False)
    result = inferer({"T1": None, "T2": files["T2"], "PD": files["PD"]})
    assert result["scenario"] == "011" and list(result["synthesised"]) == ["T1"] and result["reference"] == "T2"
    t2 = nib.load(files["T2"]).get_fdata()
    t1 = result["synthesised"]["T1"]
    assert t1.shape == t2.shape and t1.dtype == np.float32
    assert 0.0 <= t1.min() and t1.max() <= 1.0
    mask = head_mask(t2)
    expected = normalise_percentile(t2, mask)
    if size is None:  # no resize: the copied T2 comes back exactly, in the input orientation (not RAS, not square)
        np.testing.assert_allclose(t1[mask], expected[mask], atol=1e-5)
    else:  # 28 -> 20 -> 28: blurred but aligned (~0.87; a one-voxel shift or a flip correlates <= 0.71)
        corr = np.corrcoef(t1[mask], expected[mask])[0, 1]
        assert corr > 0.8
        for moved in (np.roll(t1, 1, 0), np.roll(t1, 1, 1), np.flip(t1, 0)):
            assert corr > np.corrcoef(moved[mask], expected[mask])[0, 1] + 0.1
    from scipy import ndimage

    assert np.all(t1[~ndimage.binary_dilation(mask)] == 0)  # background outside the head stays 0

    written = inferer.save(result, tmp_path / "out")
    assert [p.name for p in written] == ["IXI950-Phantom-0001-T1_synth.nii.gz", "IXI950-Phantom-0001_synthesis.png"]
    img = nib.load(written[0])
    assert img.shape == t2.shape
    np.testing.assert_allclose(img.affine, affine, atol=1e-5)
    np.testing.assert_allclose(img.get_fdata(), t1, atol=1e-6)
    assert written[1].stat().st_size > 1000


def test_register_false_rejects_other_grid(tmp_path):
    files, _ = _subject(tmp_path, sequences=("T2",))
    t1 = tmp_path / "IXI950-Phantom-0001-T1.nii.gz"
    save_nifti(np.ones((10, 10, 10), np.float32), np.eye(4), t1)
    inferer = MissingSequenceInferer(CopyChannel(src=1), spatial_size=28, register=False)
    with pytest.raises(ValueError, match="not on the grid"):
        inferer({"T1": t1, "T2": files["T2"]})
    with pytest.raises(InputError, match="PD input .*missing.nii.gz: file not found"):
        inferer({"PD": tmp_path / "missing.nii.gz"})


def test_missing_channel_imputed_as_in_training(tmp_path):
    """impute="mean": the missing T1 is fed as the mean of T2 and PD (as training and evaluation impute it)."""
    files, _ = _subject(tmp_path)
    t2 = nib.load(files["T2"]).get_fdata()
    mask = head_mask(t2)
    pd = normalise_percentile(nib.load(files["PD"]).get_fdata(), mask)
    inferer = MissingSequenceInferer(CopyChannel(src=0), spatial_size=28, register=False, impute="mean")
    t1 = inferer({"T2": files["T2"], "PD": files["PD"]})["synthesised"]["T1"]
    np.testing.assert_allclose(t1[mask], (normalise_percentile(t2, mask)[mask] + pd[mask]) / 2, atol=1e-5)


class CountingConstant(torch.nn.Module):
    """Stand-in generator that outputs 0.5 everywhere and counts the slices it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.slices = 0
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.slices += x.shape[0]
        return torch.full((x.shape[0], 3, *x.shape[2:]), 0.5)


def test_slices_outside_the_mask_are_not_computed(tmp_path):
    """With mask_output, slices without head are zero either way: skipped, the same volume as computing them all."""
    files, _ = _subject(tmp_path, axcodes=("R", "A", "S"), shape=(20, 20, 24))
    skipping = CountingConstant()
    result = MissingSequenceInferer(skipping, spatial_size=20, register=False)({"T2": files["T2"], "PD": files["PD"]})
    everything = CountingConstant()
    inferer = MissingSequenceInferer(everything, spatial_size=20, register=False, mask_output=False)
    full = inferer({"T2": files["T2"], "PD": files["PD"]})["synthesised"]["T1"]
    keep = ndimage.binary_dilation(result["mask"], iterations=1)
    assert everything.slices == 24 and skipping.slices == keep.reshape(-1, 24).any(0).sum() < 24
    np.testing.assert_array_equal(result["synthesised"]["T1"], full * keep)
    assert result["synthesised"]["T1"].max() == 0.5


def test_registration_computes_on_the_inference_device(tmp_path, monkeypatch):
    """The torch registration runs where the generator runs (on a GPU there, not on the CPU); a config's own
    ``registration_kwargs`` device wins."""
    from monai_pipelines.transforms import rigid_registration

    files, _ = _subject(tmp_path, sequences=("T1", "T2"))
    t1 = nib.load(files["T1"])
    nib.save(nib.Nifti1Image(np.asarray(t1.dataobj)[1:], t1.affine), files["T1"])  # another grid: registered
    seen = []
    register = rigid_registration.rigid_register

    def recording(*args, **kwargs):
        seen.append(kwargs.get("device"))
        return register(*args, **kwargs)

    monkeypatch.setattr(rigid_registration, "rigid_register", recording)
    settings = {"shrink_factors": [2], "iterations": 3}
    inferer = MissingSequenceInferer(CopyChannel(src=1), spatial_size=28, device=torch.device("cpu"),
                                     registration_kwargs=settings)
    assert inferer({"T1": files["T1"], "T2": files["T2"]})["scenario"] == "110"
    inferer = MissingSequenceInferer(CopyChannel(src=1), spatial_size=28, device=torch.device("cpu"),
                                     registration_kwargs={**settings, "device": "cpu:0"})
    inferer({"T1": files["T1"], "T2": files["T2"]})
    assert seen == [torch.device("cpu"), "cpu:0"]
    with pytest.raises(InputError, match="registration device"):
        MissingSequenceInferer(CopyChannel(src=1), spatial_size=28, registration_kwargs={"device": "gpu9"})(files)
