"""Breathing thorax phantom: deterministic, realistic HU, motion between phases, demo layout + manifest."""

from __future__ import annotations

import hashlib

import numpy as np

from monai_pipelines.data.demo import DEMO_DATASETS
from monai_pipelines.data.manifest import load_manifest
from monai_pipelines.data.synthetic.thorax_phantom import (
    HU,
    breathing_amplitude,
    generate_thorax_phases,
    make_thorax_phantom,
)

SMALL = (32, 32, 16)


def test_deterministic_realistic_and_moving():
    p = make_thorax_phantom(seed=3, shape=SMALL)
    assert p.phases.shape == (10, *SMALL) and p.phases.dtype == np.float32
    np.testing.assert_array_equal(p.phases, make_thorax_phantom(seed=3, shape=SMALL).phases)
    assert not np.array_equal(p.phases, make_thorax_phantom(seed=4, shape=SMALL).phases)
    vol = make_thorax_phantom(seed=3, shape=SMALL, noise_hu=0).phase0
    assert vol[0, 0, 0] == HU["air"]
    assert (vol < -500).mean() > 0.05 and (vol == HU["rib"]).any() and (vol == HU["spine"]).any()
    assert (vol == HU["tumour"]).any() and (vol == HU["liver"]).any() and (vol == HU["blood"]).any()
    assert breathing_amplitude(0) == 1.0 and breathing_amplitude(5) < 1e-12
    clean = make_thorax_phantom(seed=3, shape=SMALL, noise_hu=0)
    # end-inhale: the diaphragm is lowest, so phase 0 has more lung than end-exhale (phase 5)
    assert (clean.phases[0] < -500).sum() > (clean.phases[5] < -500).sum()
    assert np.abs(clean.average - clean.phase0).mean() > 5.0  # motion blur
    np.testing.assert_allclose(clean.average, clean.phases.mean(0), atol=1e-3)


def test_demo_layout_manifest_and_registration(tmp_path):
    assert DEMO_DATASETS["thorax_phases"].endswith("thorax_phantom:generate_thorax_phases")
    generate_thorax_phases(tmp_path / "a", n_subjects=3, n_test=1, shape=SMALL, folds=2)
    generate_thorax_phases(tmp_path / "b", n_subjects=3, n_test=1, shape=SMALL, folds=2)
    manifest = load_manifest(tmp_path / "a" / "manifest.json")
    assert [it["subject"] for it in manifest["test"]] == ["thorax_002"]
    assert sorted(p.name for p in (tmp_path / "a" / "trainA").iterdir()) == ["thorax_000.nii.gz", "thorax_001.nii.gz"]
    for rel in ("trainA/thorax_000.nii.gz", "testB/thorax_002.nii.gz"):
        digest = [hashlib.sha1((tmp_path / d / rel).read_bytes()).hexdigest() for d in ("a", "b")]
        assert digest[0] == digest[1]


def test_motion_inside_the_body_is_not_trivial():
    from scipy import ndimage

    clean = make_thorax_phantom(seed=3, shape=SMALL, noise_hu=0)
    body = np.stack([ndimage.binary_fill_holes(clean.phase0[..., k] > -500) for k in range(SMALL[2])], -1)
    diff = np.abs(clean.average - clean.phase0)
    assert 0.2 < body.mean() < 0.6
    # the input-as-output error is concentrated in the moving anatomy: > 5 % of body voxels off by > 50 HU
    assert (diff > 50)[body].mean() > 0.05 and diff[body].mean() > 20.0
    assert diff[~body].max() < 1e-3  # outside the body (air) nothing moves


def test_default_noise_matches_the_large_voxels():
    from monai_pipelines.data.demo import demo_folder_name
    from monai_pipelines.data.synthetic.thorax_phantom import THORAX_NOISE_HU

    p = make_thorax_phantom(seed=3, shape=SMALL)
    air = p.phases[:, :3, :3, :]  # corners outside the body: noise only
    assert abs(air.std() - THORAX_NOISE_HU) < 0.5
    # the average of 10 independent phases has sqrt(10) less noise than the target phase
    assert abs(p.average[:3, :3, :].std() - THORAX_NOISE_HU / np.sqrt(10)) < 0.3
    assert demo_folder_name("thorax_phases") != "thorax_phases"  # the 10 HU / 12-subject cache is not reused
