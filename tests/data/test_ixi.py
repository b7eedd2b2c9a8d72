"""Phase 1 IXI preparation: phantom end to end, resumability, and the real IXI sample (T1 + T2, no PD)."""

from __future__ import annotations

import argparse
import json
import logging
import re

import numpy as np
import pytest
import torch

from monai_pipelines.data import ixi_cli
from monai_pipelines.data.ixi import (
    cut_slices,
    prepare_ixi,
    prepared_slicing,
    register_subject,
    slice_volume,
    slicing_record,
    uncut_slices,
)
from monai_pipelines.data.manifest import load_manifest
from monai_pipelines.data.synthetic.ixi_phantom import write_ixi_phantom

SMALL = {"shape": (32, 32, 24), "spacing": (6.0, 6.0, 6.0)}
FAST_REG = {"shrink_factors": (2, 1), "sampling": 0.3, "iterations": 40}


def test_prepare_phantoms_end_to_end(tmp_path, caplog):
    raw = tmp_path / "raw"
    write_ixi_phantom(raw, n_subjects=4, **SMALL)
    (raw / "IXI900-Phantom-0000-PD.nii.gz").unlink()  # incomplete subject
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="monai_pipelines"):
        report = prepare_ixi(raw, out, size=32, folds=2, test_fraction=0.34, progress=False,
                             registration_kwargs=FAST_REG)
    assert "IXI900-Phantom-0000: missing PD" in caplog.text
    assert report.incomplete == {"IXI900-Phantom-0000": ["PD"]}
    assert sorted(report.prepared) == ["IXI901-Phantom-0001", "IXI902-Phantom-0002", "IXI903-Phantom-0003"]
    manifest = load_manifest(out / "manifest.json")
    subjects = {sec: {it["subject"] for it in manifest[sec]} for sec in ("training", "validation", "test")}
    assert all(subjects.values()) and not (subjects["training"] & subjects["test"])
    for sec, folder in (("training", "train"), ("validation", "val"), ("test", "test")):
        for item in manifest[sec]:
            assert item["image"] == f"{folder}/{item['subject']}_{item['slice']:03d}.npy"
    x = np.load(out / manifest["training"][0]["image"])
    assert x.shape == (3, 32, 32) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert all(x[c].max() > 0.2 for c in range(3))  # T1, T2, PD all present
    assert manifest["slicing"] == slicing_record(32) == prepared_slicing(out / "manifest.json", [
        {"image": str(out / manifest["training"][0]["image"])}])
    registration = json.loads((out / ".done" / "IXI901-Phantom-0001.json").read_text())["registration"]["T1"]
    assert registration["final_metric"] < registration["initial_metric"]  # MI improved (lower is better)
    # second run skips finished subjects and rewrites the same manifest
    again = prepare_ixi(raw, out, size=32, folds=2, test_fraction=0.34, progress=False)
    assert again.prepared == [] and len(again.reused) == 3 and again.slices == report.slices


def test_real_ixi_reports_missing_pd(real_data, tmp_path, caplog):
    parser = argparse.ArgumentParser()
    ixi_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["prepare", "ixi", "--raw", str(real_data / "ixi"), "--out", str(tmp_path / "o")])
    with caplog.at_level(logging.WARNING, logger="monai_pipelines"), pytest.raises(ValueError, match="T1, T2 and PD"):
        args.func(args)
    lines = [r.getMessage() for r in caplog.records if "IXI002-Guys-0828" in r.getMessage()]
    assert len(lines) == 1 and "missing PD" in lines[0] and "left out" in lines[0]


@pytest.mark.slow
def test_real_ixi_registration_and_n4(real_data):
    root = real_data / "ixi"
    files = {"T1": root / "IXI002-Guys-0828-T1.nii.gz", "T2": root / "IXI002-Guys-0828-T2.nii.gz"}
    info: dict = {}
    images, affine, mask = register_subject(
        files, n4=True, n4_iterations=(20, 20),
        registration_kwargs={"shrink_factors": (4, 2), "sampling": 0.05, "iterations": 60}, info=info,
    )
    assert images["T1"].shape == images["T2"].shape == mask.shape == (256, 256, 130)  # T1 on the T2 grid
    assert info["T1"]["final_metric"] < info["T1"]["initial_metric"] - 0.05  # mutual information clearly up
    assert mask.sum() > 0.5e6  # the sample's own T2 brain mask was used
    for seq in ("T1", "T2"):
        inside = images[seq][mask > 0]
        assert np.isfinite(inside).all() and inside.mean() > 0


def test_registering_a_subject_loads_no_itk(tmp_path):
    """The default backend registers without ITK: ITK's compiled modules cost a fresh process 8.5 s to load (MM-GAN
    inference on IXI took 26 s with them, 16.5 s without); N4, off by default, is the only step left that loads them
    (``import itk`` alone only reads its lazy index)."""
    import subprocess
    import sys

    write_ixi_phantom(tmp_path, n_subjects=1, **SMALL)
    code = (
        "import sys\nfrom pathlib import Path\nfrom monai_pipelines.data.ixi import register_subject\n"
        f"files = {{s: next(Path({str(tmp_path)!r}).glob(f'*-{{s}}.nii.gz')) for s in ('T1', 'T2')}}\n"
        f"info = {{}}\nimages, _, _ = register_subject(files, registration_kwargs={FAST_REG!r}, info=info)\n"
        "assert info['T1']['final_metric'] < info['T1']['initial_metric'], info\n"
        "print(sorted(m for m in sys.modules if m.startswith('itk.') and m.endswith('Python')))\n"  # compiled
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout


@pytest.mark.parametrize("kwargs, needle", [({"max_sample": 10}, "unknown registration setting(s) ['max_sample']"),
                                             ({"backend": "ants"}, "backend must be one of"),
                                             ({"metric": "mi"}, "metric must be one of")])
def test_bad_registration_kwargs_refused_before_any_subject(tmp_path, kwargs, needle):
    """A typo in registration_kwargs is the user's error, said once, before a subject is read or anything written
    (it was a TypeError per subject: with --skip-corrupted every subject would have been skipped as unusable)."""
    from monai_pipelines.utils.errors import InputError

    raw = tmp_path / "raw"
    write_ixi_phantom(raw, n_subjects=2, **SMALL)
    with pytest.raises(InputError, match=re.escape(needle)):
        prepare_ixi(raw, tmp_path / "out", size=32, folds=2, test_fraction=0.0, progress=False,
                    registration_kwargs=kwargs, skip_corrupted=True)
    assert not (tmp_path / "out").exists()
    files = {s: next(raw.glob(f"*-{s}.nii.gz")) for s in ("T1", "T2")}
    with pytest.raises(InputError, match=re.escape(needle)):
        register_subject(files, registration_kwargs=kwargs)


@pytest.mark.parametrize("axis", [2, 0])
def test_cut_slices_rotates_pads_and_uncut_restores(axis):
    """Phase 1's slices: turned a quarter (anterior up), padded square; uncut_slices puts them back exactly."""
    rng = np.random.default_rng(0)
    volume = rng.random((2, 6, 4, 5)).astype(np.float32)
    slices = cut_slices(volume, size=6, axis=axis)
    z = 3
    plane = np.take(volume, z, axis=axis + 1)
    turned = np.rot90(plane, 1, axes=(1, 2))
    h, w = turned.shape[1:]
    side = max(h, w)
    expected = np.zeros((2, side, side), np.float32)
    expected[:, (side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = turned
    if side == 6:
        np.testing.assert_allclose(slices[z], expected, atol=1e-6)
    back = uncut_slices(torch.as_tensor(cut_slices(volume, size=side, axis=axis)), volume.shape[1:], axis=axis)
    np.testing.assert_allclose(back.numpy(), volume, atol=1e-6)
    assert uncut_slices(torch.as_tensor(slices), volume.shape[1:], axis=axis).shape == volume.shape


def test_slice_volume_keeps_foreground_slices():
    volume = np.ones((3, 8, 6, 5), np.float32)
    mask = np.zeros((8, 6, 5), np.float32)
    mask[:, :, 1:3] = 1
    slices, kept = slice_volume(volume, mask, size=16)
    assert kept == [1, 2] and slices.shape == (2, 3, 16, 16)


def test_shards_with_workers_then_manifest_only_equal_one_run(tmp_path):
    raw = tmp_path / "raw"
    write_ixi_phantom(raw, n_subjects=4, **SMALL)
    kwargs = {"size": 32, "folds": 2, "test_fraction": 0.25, "progress": False, "registration_kwargs": FAST_REG}
    single = prepare_ixi(raw, tmp_path / "one", **kwargs)
    out = tmp_path / "sharded"
    first = prepare_ixi(raw, out, shard=(1, 2), **kwargs)
    assert first.prepared == ["IXI900-Phantom-0000", "IXI902-Phantom-0002"] and first.manifest == ""
    assert not (out / "manifest.json").exists()
    with pytest.raises(ValueError, match="2 subject\\(s\\) not prepared yet"):
        prepare_ixi(raw, out, manifest_only=True, **kwargs)
    second = prepare_ixi(raw, out, shard=(2, 2), workers=2, **kwargs)  # two processes
    assert second.prepared == ["IXI901-Phantom-0001", "IXI903-Phantom-0003"]
    final = prepare_ixi(raw, out, manifest_only=True, **kwargs)
    assert final.prepared == [] and len(final.reused) == 4 and final.slices == single.slices
    assert json.loads((out / "manifest.json").read_text()) == json.loads((tmp_path / "one/manifest.json").read_text())
    for item in load_manifest(out / "manifest.json")["training"]:
        # equal up to float rounding (registration on 1 thread in a worker vs several here: ~2e-9 measured)
        np.testing.assert_allclose(np.load(out / item["image"]), np.load(tmp_path / "one" / item["image"]), atol=1e-6)
    assert not list((out / ".done").glob(".*.tmp"))


def test_cli_parses_workers_and_shard():
    parser = argparse.ArgumentParser()
    ixi_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["prepare", "ixi", "--raw", "r", "--out", "o", "--shard", "2/8", "--workers", "3"])
    assert args.shard == (2, 8) and args.workers == 3 and not args.manifest_only
    assert parser.parse_args(["prepare", "ixi", "--raw", "r", "--out", "o"]).workers == ixi_cli.default_workers()
    for bad in ("0/2", "3/2", "x"):
        with pytest.raises(SystemExit):
            parser.parse_args(["prepare", "ixi", "--raw", "r", "--out", "o", "--shard", bad])
