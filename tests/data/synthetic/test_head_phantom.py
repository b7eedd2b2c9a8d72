"""Synthetic head phantom: determinism, MR physics ordering, CT ranges, geometry, artefacts, speed."""

from __future__ import annotations

import time

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from monai_pipelines.data.synthetic import (
    SEQUENCE_PARAMS,
    TISSUE_PROPERTIES,
    HeadPhantom,
    Tissue,
    make_head_phantom,
    save_nifti,
    spin_echo_signal,
    write_head_subject,
)
from monai_pipelines.data.synthetic.deformation import apply_rigid_transform

SHAPE = (48, 48, 48)
ARTEFACTS = dict(bias_field=0.3, noise=0.03, misalignment=(3.0, 3.0))


@pytest.fixture(scope="module")
def clean() -> HeadPhantom:
    return make_head_phantom(3, shape=SHAPE)


@pytest.fixture(scope="module")
def with_artefacts() -> HeadPhantom:
    return make_head_phantom(3, shape=SHAPE, **ARTEFACTS)


def _median(phantom: HeadPhantom, image: str, tissue: Tissue) -> float:
    """Median of an image over a tissue, the labels moved with the image's recorded misalignment."""
    labels = phantom.tissues
    if image in phantom.misalignment:
        labels = apply_rigid_transform(labels, phantom.misalignment[image], phantom.affine, order=0)
    return float(np.median(phantom.images[image][labels == tissue]))


def test_same_seed_byte_identical_files_different_seed_differs(tmp_path):
    items = []
    for run, seed in (("a", 5), ("b", 5), ("c", 6)):
        phantom = make_head_phantom(seed, shape=(32, 32, 32), **ARTEFACTS)
        items.append(write_head_subject(tmp_path / run, "sub", phantom))
    assert items[0] == items[1] == items[2]
    files = sorted(items[0][k] for k in items[0] if k != "subject")
    assert len(files) == 7  # t1, t2, pd, ct, tissues, head mask, brain mask
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes(), name


def test_subjects_differ_in_shape():
    a, b = make_head_phantom(0, shape=SHAPE), make_head_phantom(1, shape=SHAPE)
    for tissue in (Tissue.SKULL, Tissue.WHITE_MATTER, Tissue.CSF):
        ma, mb = a.tissues == tissue, b.tissues == tissue
        dice = 2 * np.sum(ma & mb) / (ma.sum() + mb.sum())
        assert 0.2 < dice < 0.9, (tissue.name, dice)


def test_anatomy_does_not_depend_on_artefact_options(clean, with_artefacts):
    np.testing.assert_array_equal(clean.tissues, with_artefacts.tissues)
    np.testing.assert_array_equal(clean.images["ct"], with_artefacts.images["ct"])


def test_spin_echo_signal_equation():
    got = spin_echo_signal(0.8, 1000.0, 100.0, tr_ms=500.0, te_ms=20.0)
    assert got == pytest.approx(0.8 * (1 - np.exp(-0.5)) * np.exp(-0.2))
    t1 = {t: spin_echo_signal(p.pd, p.t1_ms, p.t2_ms, *SEQUENCE_PARAMS["t1"]) for t, p in TISSUE_PROPERTIES.items()}
    t2 = {t: spin_echo_signal(p.pd, p.t1_ms, p.t2_ms, *SEQUENCE_PARAMS["t2"]) for t, p in TISSUE_PROPERTIES.items()}
    assert t1[Tissue.CSF] < t1[Tissue.GREY_MATTER] < t1[Tissue.WHITE_MATTER] < t1[Tissue.SCALP]
    assert t2[Tissue.CSF] > t2[Tissue.GREY_MATTER] > t2[Tissue.WHITE_MATTER]
    with pytest.raises(ValueError):
        spin_echo_signal(1.0, 0.0, 100.0, 500.0, 15.0)


@pytest.mark.parametrize("phantom_name", ["clean", "with_artefacts"])
def test_mr_contrasts_ordered_as_physics_says(phantom_name, request):
    p = request.getfixturevalue(phantom_name)
    csf, gm, wm = Tissue.CSF, Tissue.GREY_MATTER, Tissue.WHITE_MATTER
    assert _median(p, "t1", csf) < _median(p, "t1", gm) < _median(p, "t1", wm)  # CSF dark, WM brightest on T1
    assert _median(p, "t1", Tissue.SCALP) > _median(p, "t1", wm)  # fat bright on T1
    assert _median(p, "t1", Tissue.BACKGROUND) < 0.2 * _median(p, "t1", csf)
    assert _median(p, "t2", csf) > _median(p, "t2", gm) > _median(p, "t2", wm)  # CSF bright on T2
    assert _median(p, "pd", gm) > _median(p, "pd", wm)


def test_ct_values_per_tissue_within_ranges(clean):
    ranges = {
        Tissue.BACKGROUND: (-1010, -990),
        Tissue.SCALP: (-130, -70),
        Tissue.CSF: (5, 25),
        Tissue.WHITE_MATTER: (15, 35),
        Tissue.GREY_MATTER: (30, 50),
        Tissue.SKULL: (700, 1500),
    }
    for tissue, (lo, hi) in ranges.items():
        assert lo <= _median(clean, "ct", tissue) <= hi, tissue.name
    assert _median(clean, "ct", Tissue.WHITE_MATTER) < _median(clean, "ct", Tissue.GREY_MATTER)
    noise_free = make_head_phantom(3, shape=SHAPE, ct_noise_hu=0.0)
    bone = noise_free.images["ct"][noise_free.tissues == Tissue.SKULL]
    assert bone.min() >= 700 - 1e-3 and bone.max() <= 1500 + 1e-3
    assert bone.max() - bone.min() > 500  # cortical tables and diploe, not one value
    noise = clean.images["ct"] - noise_free.images["ct"]
    assert np.std(noise) == pytest.approx(10.0, rel=0.05)


def test_ct_is_not_a_function_of_t1_alone(clean):
    """Dark T1 voxels inside the head are CSF (~15 HU) as well as cortical bone (>1000 HU)."""
    dark = clean.head_mask & (clean.images["t1"] < _median(clean, "t1", Tissue.CSF) * 1.2)
    ct = clean.images["ct"][dark]
    assert np.percentile(ct, 5) < 50 and np.percentile(ct, 95) > 1000


def test_masks_and_closed_skull(clean):
    np.testing.assert_array_equal(clean.head_mask, clean.tissues != Tissue.BACKGROUND)
    brain_tissues = [Tissue.CSF, Tissue.GREY_MATTER, Tissue.WHITE_MATTER]
    np.testing.assert_array_equal(clean.brain_mask, np.isin(clean.tissues, brain_tissues))
    assert clean.tissues.dtype == np.int8 and set(np.unique(clean.tissues)) == set(Tissue)
    # the brain is enclosed by bone: growing it by one voxel never reaches scalp or air
    grown = ndimage.binary_dilation(clean.brain_mask)
    assert not np.isin(clean.tissues[grown], [Tissue.SCALP, Tissue.BACKGROUND]).any()
    # the head fits in the field of view
    assert not (clean.head_mask[[0, -1]].any() or clean.head_mask[:, [0, -1]].any())


def test_affine_and_nifti_round_trip(tmp_path):
    shape, spacing = (40, 48, 32), (1.2, 1.0, 1.5)
    p = make_head_phantom(2, shape=shape, spacing=spacing, sequences=("t1", "t2"))
    np.testing.assert_allclose(np.diag(p.affine)[:3], spacing)
    centre = p.affine @ np.array([*(0.5 * (np.array(shape) - 1)), 1.0])
    np.testing.assert_allclose(centre[:3], 0.0, atol=1e-9)
    assert set(p.images) == {"t1", "t2", "ct"} and all(v.dtype == np.float32 for v in p.images.values())
    item = write_head_subject(tmp_path, "s01", p)
    assert item == {
        "subject": "s01",
        "t1": "s01_t1.nii.gz",
        "t2": "s01_t2.nii.gz",
        "ct": "s01_ct.nii.gz",
        "tissues": "s01_tissues.nii.gz",
        "head_mask": "s01_headmask.nii.gz",
        "brain_mask": "s01_brainmask.nii.gz",
    }
    for key, expected, dtype in (("t2", p.images["t2"], np.float32), ("tissues", p.tissues, np.uint8)):
        img = nib.load(tmp_path / item[key])
        assert img.get_data_dtype() == dtype
        np.testing.assert_allclose(img.affine, p.affine)
        assert nib.aff2axcodes(img.affine) == ("R", "A", "S")
        np.testing.assert_allclose(img.header.get_zooms(), spacing)
        np.testing.assert_array_equal(np.asanyarray(img.dataobj), expected.astype(dtype))
    head = np.asanyarray(nib.load(tmp_path / item["head_mask"]).dataobj)
    np.testing.assert_array_equal(head, p.head_mask)


def test_save_nifti_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="nii"):
        save_nifti(np.zeros((4, 4, 4)), np.eye(4), tmp_path / "x.png")
    with pytest.raises(ValueError, match="3D"):
        save_nifti(np.zeros((4, 4)), np.eye(4), tmp_path / "x.nii.gz")
    with pytest.raises(ValueError, match="subject"):
        write_head_subject(tmp_path, "../evil", make_head_phantom(0, shape=(16, 16, 16)))


@pytest.mark.parametrize(
    "kwargs",
    [dict(sequences=("t1", "flair")), dict(sequences=()), dict(bias_field=2.5), dict(noise=-1.0), dict(seed=-1)],
)
def test_invalid_options_raise(kwargs):
    kwargs = {"seed": 0, "shape": (16, 16, 16), **kwargs}
    with pytest.raises(ValueError):
        make_head_phantom(**kwargs)


def test_bias_field_recorded_and_applied(clean):
    for field in clean.bias_fields.values():
        np.testing.assert_array_equal(field, np.ones(SHAPE, dtype=np.float32))
    biased = make_head_phantom(3, shape=SHAPE, bias_field=0.3)
    field = biased.bias_fields["t1"]
    assert field.min() == pytest.approx(0.85, abs=1e-4) and field.max() == pytest.approx(1.15, abs=1e-4)
    assert not np.allclose(biased.bias_fields["t1"], biased.bias_fields["t2"])  # one field per acquisition
    for seq in ("t1", "t2", "pd"):
        np.testing.assert_allclose(
            biased.images[seq], clean.images[seq] * biased.bias_fields[seq], rtol=1e-5, atol=1e-3
        )
    wm = ndimage.binary_erosion(clean.tissues == Tissue.WHITE_MATTER)  # away from partial volume
    cv = [np.std(p.images["t1"][wm]) / np.mean(p.images["t1"][wm]) for p in (clean, biased)]
    assert cv[1] > 1.3 * cv[0]


def test_rician_noise_level(with_artefacts):
    wm = TISSUE_PROPERTIES[Tissue.WHITE_MATTER]
    sigma = 0.03 * 1000.0 * spin_echo_signal(wm.pd, wm.t1_ms, wm.t2_ms, *SEQUENCE_PARAMS["t1"])
    far = ~ndimage.binary_dilation(with_artefacts.head_mask, iterations=3)  # air: Rayleigh distributed
    air = with_artefacts.images["t1"][far]
    assert air.min() >= 0
    assert np.mean(air) == pytest.approx(sigma * np.sqrt(np.pi / 2), rel=0.05)


def test_misalignment_recorded_and_recoverable(clean, with_artefacts):
    motions = with_artefacts.misalignment
    np.testing.assert_array_equal(motions["t1"], np.eye(4))  # the reference does not move
    for seq in ("t2", "pd"):
        m = motions[seq]
        np.testing.assert_allclose(m[:3, :3] @ m[:3, :3].T, np.eye(3), atol=1e-12)
        assert 0 < np.abs(m[:3, 3]).max() <= 3.0
        angle = np.degrees(np.arccos(np.clip((np.trace(m[:3, :3]) - 1) / 2, -1, 1)))
        assert 0 < angle <= 3.0 * np.sqrt(3)
    for motion in clean.misalignment.values():
        np.testing.assert_array_equal(motion, np.eye(4))
    # undo the recorded motion on a noise/bias-free copy: it lands back on the unmoved image
    moved = make_head_phantom(3, shape=SHAPE, misalignment=(3.0, 3.0))
    np.testing.assert_array_equal(moved.images["t1"], clean.images["t1"])
    restored = apply_rigid_transform(moved.images["t2"], np.linalg.inv(moved.misalignment["t2"]), moved.affine)
    inner = ndimage.binary_erosion(clean.head_mask, iterations=3)
    err_before = np.abs(moved.images["t2"] - clean.images["t2"])[inner].mean()
    err_after = np.abs(restored - clean.images["t2"])[inner].mean()
    assert err_before > 15.0 and err_after < 0.5 * err_before


def test_one_64_cubed_subject_is_fast(tmp_path):
    make_head_phantom(0, shape=(16, 16, 16))  # warm-up (FFT plans, imports)
    start = time.perf_counter()
    phantom = make_head_phantom(11, shape=(64, 64, 64), **ARTEFACTS)
    write_head_subject(tmp_path, "s11", phantom)
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0, f"one 64^3 subject took {elapsed:.2f} s (target: 60 subjects in under a minute)"
