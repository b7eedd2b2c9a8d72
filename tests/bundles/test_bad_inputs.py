"""The generated bad-input corpus (tests/bundles/bad_inputs.py) through every bundle command that reads each kind.

Each outcome must be one line naming the file and the problem with nothing written, or (``skip_corrupted``) the
file skipped and counted, or, for odd but valid input, a warning and correct output. Never a traceback, never a
partial output. The counts of kinds x commands tried and passed are printed.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import nibabel as nib
import pytest
import torch
from monai.bundle import ConfigParser, run

from monai_pipelines.bundle.run_contract import NETWORK_ID, RunContract
from monai_pipelines.utils.errors import find_user_error, user_error_message
from tests.bundles import bad_inputs as corpus
from tests.bundles.runner import configs

pytestmark = pytest.mark.slow

# tiny networks; the contract values not listed are train.json's
TINY_NETWORKS: dict[str, dict[str, Any]] = {
    "mri_to_ct_unet3d": {"features": [4, 8, 16, 32], "patch_size": [16, 16, 16], "spacing": [2.0, 2.0, 2.0]},
    "ct_phase_pix2pix": {"spatial_size": 32, "num_downs": 5, "ngf": 4, "ndf": 4, "n_layers_d": 2},
    "glioma_grade_resnet50_3d": {"image_size": 16, "spacing": [2.0, 2.0, 2.0], "widths": [4, 8, 16, 32]},
    "glacier_segmentation": {"backbone": "resnet10"},
}
NIFTI_COMMANDS = ("mri_to_ct_unet3d", "ct_phase_pix2pix", "glioma_grade_resnet50_3d", "mmgan_missing_modality")


def _checkpoint(bundle: str, folder: Path) -> Path:
    """A checkpoint as training writes it (untrained tiny weights + the run contract), without training."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.pt"
    if bundle == "mmgan_missing_modality":
        from tests.bundles.test_mmgan_missing_modality import _inference_run

        return _inference_run(folder, 32) / "checkpoints" / "mmgan_best.pth"
    parser = ConfigParser()
    parser.read_config(configs(bundle, "train.json")[0])
    parser.update(TINY_NETWORKS[bundle])
    parser.parse()
    manual = {"band_stats": None}
    ids = [i for i in parser.get("contract") if i not in manual]
    contract = RunContract.record(parser, ids).to_dict()
    if "band_stats" in parser.get("contract"):
        n = len(parser.get_parsed_content("bands"))
        contract["band_stats"] = {"mean": [0.0] * n, "std": [1.0] * n}
    torch.manual_seed(0)
    network = RunContract(contract).component(NETWORK_ID)
    torch.save({"network": network.state_dict(), "contract": contract}, path)
    return path


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("checkpoints")
    return {bundle: _checkpoint(bundle, root / bundle) for bundle in (*NIFTI_COMMANDS, "glacier_segmentation")}


def _inference(bundle: str, ckpt: Path, inputs: Any, out: Path, **overrides) -> None:
    """``run inference`` of ``bundle`` on ``inputs`` (a file or folder; MM-GAN: the T2 beside a good PD)."""
    args: dict[str, Any] = {"output_dir": str(out), **overrides}
    if bundle == "mmgan_missing_modality":
        pd = inputs.parent / "pd.nii.gz"  # on the T2's grid where the test wrote one
        pd = pd if pd.is_file() else inputs.parent.parent / "good_pd.nii.gz"
        args |= {"ckpt_path": str(ckpt), "t2": str(inputs), "pd": str(pd), "register": False, "png": False}
    elif bundle == "glacier_segmentation":
        args |= {"ckpt_paths": [str(ckpt)], "input_path": str(inputs), "tta_flips": False, "tta_rot90": False}
    else:
        args |= {"ckpt_path": str(ckpt), "input_path": str(inputs)}
        if bundle == "mri_to_ct_unet3d":
            args["panels"] = False
    run("inference", config_file=configs(bundle, "inference.json")[0], logging_file=False, **args)


def _written(out: Path) -> list[Path]:
    """Outputs of a command: everything but its log and config record."""
    if not out.exists():
        return []
    return [p for p in out.rglob("*") if p.is_file() and not {"logs", "config"} & set(p.relative_to(out).parts)]


def _outcome(command: Callable[[], None], out: Path, bad: Path, kind: corpus.Kind, caplog) -> str:
    """What happened, checked against the kind's expectation; returns "" when it is right, else what was wrong."""
    caplog.clear()
    try:
        command()
    except Exception as err:  # noqa: BLE001 - the corpus classifies every failure
        user = find_user_error(err)
        if user is None:
            return f"traceback: {type(err).__name__}: {str(err)[:300]}"
        line = user_error_message(user)
        if kind.expect != corpus.ERROR:
            return f"refused odd but valid input: {line}"
        if bad.name not in line or kind.needle.lower() not in line.lower():
            return f"error line does not name {bad.name} and {kind.needle!r}: {line}"
        if _written(out):
            return f"wrote {[str(p.relative_to(out)) for p in _written(out)]} before failing"
        return ""
    if kind.expect == corpus.ERROR:
        return f"accepted: wrote {[p.name for p in _written(out)]}"
    if not _written(out):
        return "wrote nothing"
    if kind.needle and kind.needle.lower() not in caplog.text.lower():
        return f"no warning with {kind.needle!r}"
    return ""


def _tally(label: str, problems: list[str], tried: int) -> None:
    print(f"{label}: {tried - len(problems)} of {tried} kinds x commands passed")


@pytest.mark.parametrize("bundle", NIFTI_COMMANDS)
def test_nifti_corpus_through_inference(bundle, checkpoints, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    corpus.write_nifti(tmp_path / "good_pd.nii.gz", corpus.good_volume(1))
    problems = []
    for i, kind in enumerate(corpus.NIFTI_KINDS):
        folder = tmp_path / f"kind_{i}"
        folder.mkdir()
        bad = kind.write(folder / "case.nii.gz")
        if kind.expect == corpus.WARN:  # MM-GAN's second sequence on the odd T2's grid (else it is refused)
            corpus.write_nifti(folder / "pd.nii.gz", corpus.good_volume(1), nib.load(str(bad)).affine)
        out = tmp_path / f"out_{i}"
        problem = _outcome(partial(_inference, bundle, checkpoints[bundle], bad, out), out, bad, kind, caplog)
        if problem:
            problems.append(f"{kind.name}: {problem}")
    _tally("nifti x inference", problems, len(corpus.NIFTI_KINDS))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("bundle", NIFTI_COMMANDS[:3])
def test_folder_of_good_and_bad_files(bundle, checkpoints, tmp_path, caplog):
    """Without skip_corrupted: one line, and not even the good file's output; with it: good written, bad counted."""
    caplog.set_level(logging.WARNING)
    folder = tmp_path / "inputs"
    folder.mkdir()
    corpus.write_nifti(folder / "a_good.nii.gz", corpus.good_volume())
    (folder / "b_bad.nii.gz").write_bytes(b"")
    with pytest.raises(Exception) as info:
        _inference(bundle, checkpoints[bundle], folder, tmp_path / "strict")
    assert "b_bad.nii.gz: empty file (0 bytes)" in user_error_message(find_user_error(info.value))
    assert _written(tmp_path / "strict") == []

    _inference(bundle, checkpoints[bundle], folder, tmp_path / "skipping", skip_corrupted=True)
    written = _written(tmp_path / "skipping")
    names = [p.name for p in written] + [line for p in written if p.suffix == ".csv" for line in p.read_text().split()]
    assert any("a_good" in name for name in names) and not any("b_bad" in n for n in names), names
    assert "1 unusable input(s) skipped" in caplog.text


def test_mmgan_skips_a_corrupt_sequence_by_synthesising_it(checkpoints, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    (tmp_path / "raw").mkdir()
    corpus.write_nifti(tmp_path / "good_pd.nii.gz", corpus.good_volume(1))
    bad = tmp_path / "raw" / "t2.nii.gz"
    bad.write_bytes(b"")
    with pytest.raises(Exception) as info:  # only PD is left: T1 and T2 are synthesised from it
        _inference("mmgan_missing_modality", checkpoints["mmgan_missing_modality"], bad, tmp_path / "strict")
    assert "T2 input" in user_error_message(find_user_error(info.value))
    _inference("mmgan_missing_modality", checkpoints["mmgan_missing_modality"], bad, tmp_path / "out",
               skip_corrupted=True)
    assert "skipping the T2 input" in caplog.text
    assert sorted(p.name for p in (tmp_path / "out").glob("*.nii.gz")) != []


def test_geotiff_and_npy_corpus_through_glacier_inference(checkpoints, tmp_path, caplog):
    pytest.importorskip("rasterio")
    from monai_pipelines.data import HKH_BANDS

    caplog.set_level(logging.WARNING)
    contract = torch.load(checkpoints["glacier_segmentation"], weights_only=True)["contract"]
    names = list(HKH_BANDS)
    kinds = [(k, ".tif") for k in corpus.geotiff_kinds(names, contract["bands"])] + [(k, ".npy") for k in corpus.npy_kinds(len(names))]
    problems = []
    for i, (kind, suffix) in enumerate(kinds):
        bad = kind.write(tmp_path / f"case_{i}{suffix}")
        out = tmp_path / f"out_{i}"
        problem = _outcome(partial(_inference, "glacier_segmentation", checkpoints["glacier_segmentation"], bad, out),
                           out, bad, kind, caplog)
        if problem:
            problems.append(f"{kind.name}: {problem}")
    _tally("geotiff/npy x inference", problems, len(kinds))
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------- training inputs
def _tiny_training(bundle: str, data: Path) -> dict[str, Any]:
    from tests.bundles.test_multi_gpu_train import BUNDLES as TINY_SETUPS

    overrides = {**TINY_SETUPS[bundle](data), "epochs": 1}
    if "dataset_dir" not in overrides:  # the built-in demo data
        from monai_pipelines.data.demo import resolve_dataset

        overrides["dataset_dir"] = str(resolve_dataset(None, None, "glacier_tiles").dataset_dir)
    return overrides


@pytest.mark.parametrize("bundle", ["mri_to_ct_unet3d", "ct_phase_pix2pix", "mmgan_missing_modality",
                                    "glioma_grade_resnet50_3d", "glacier_segmentation"])
def test_manifest_corpus_through_training(bundle, tmp_path):
    overrides = _tiny_training(bundle, tmp_path / "data")
    dataset_dir = Path(overrides["dataset_dir"])
    manifest = json.loads((dataset_dir / "manifest.json").read_text())
    problems = []
    for i, (name, edit, needle) in enumerate(corpus.MANIFEST_KINDS):
        edited = edit(json.loads(json.dumps(manifest)))
        path = tmp_path / f"manifest_{i}.json"
        path.write_text(edited if isinstance(edited, str) else json.dumps(edited))
        out = tmp_path / f"run_{i}"
        kind = corpus.Kind(name, lambda p: p, corpus.ERROR, needle)
        problem = _outcome(partial(run, "training", config_file=configs(bundle, "train.json")[0], logging_file=False,
                                   **{**overrides, "manifest": str(path), "output_dir": str(out)}),
                           out, path, kind, _NoLog())
        if problem:
            problems.append(f"{name}: {problem}")
    _tally("manifest x training", problems, len(corpus.MANIFEST_KINDS))
    assert not problems, "\n".join(problems)


class _NoLog:
    text = ""

    def clear(self) -> None:
        pass


@pytest.mark.parametrize("bundle", ["mri_to_ct_unet3d", "ct_phase_pix2pix"])
@pytest.mark.parametrize("mismatch", ["shape", "affine"])
def test_mismatched_pairs_stop_training(bundle, mismatch, tmp_path):
    import nibabel as nib
    import numpy as np

    overrides = _tiny_training(bundle, tmp_path / "data")
    dataset_dir = Path(overrides["dataset_dir"])
    manifest = json.loads((dataset_dir / "manifest.json").read_text())
    item = manifest["training"][0]
    target = dataset_dir / item[corpus.path_keys(item)[1]]  # the second image of the pair
    image = nib.load(str(target))
    data = np.asarray(image.dataobj)
    if mismatch == "shape":
        nib.save(nib.Nifti1Image(data[:-6, :-6], image.affine), str(target))
    else:
        shifted = image.affine.copy()
        shifted[:3, 3] += 5.0
        nib.save(nib.Nifti1Image(data, shifted), str(target))
    shutil.rmtree(dataset_dir / "cache", ignore_errors=True)
    with pytest.raises(Exception) as info:
        run("training", config_file=configs(bundle, "train.json")[0], logging_file=False,
            **{**overrides, "output_dir": str(tmp_path / "run")})
    line = user_error_message(find_user_error(info.value))
    assert target.name in line and ("shape" in line if mismatch == "shape" else "affine" in line), line
