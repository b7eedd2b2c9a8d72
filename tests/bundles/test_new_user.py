"""Every bundle as a new user meets it: the CLI from a second checkout, lower-case booleans, one-line errors.

The package stays imported from this checkout (as after ``pip install -e`` of a first clone) while the configs are
run from a copy of ``bundles/``: outputs must land in the copy. Each bundle runs at its tests' tiny size, through
every command a user types: train -> evaluate -> export -> verify_net_in_out (in this process) -> inference on a
held-out subject, the later commands finding the trained run by the configs' defaults alone; then one mistaken command
line per bundle.
"""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
from monai.bundle import ConfigWorkflow, verify_net_in_out

from monai_pipelines.data.manifest import datalist
from monai_pipelines.utils.paths import repo_root
from tests.bundles.bad_inputs import path_keys
from tests.bundles.runner import BUNDLES, CONFIG_FILES, cli, configs, monai_bundle
from tests.bundles.test_multi_gpu_train import BUNDLES as TINY_SETUPS

pytestmark = pytest.mark.slow


def configs_of(bundle: str, command: str, root: Path) -> list[str]:
    return configs(bundle, *CONFIG_FILES[command], root=root)


def _second_checkout(bundle: str, root: Path) -> Path:
    shutil.copytree(repo_root() / "bundles" / bundle, root / "bundles" / bundle,
                    ignore=shutil.ignore_patterns("runs", "models"))
    return root


_COMMAND_LISTS = {"initialize", "run", "training", "evaluating", "inference", "finalize", "_meta_", "imports"}


def _all_ids(config, prefix: str = ""):
    items = config.items() if isinstance(config, dict) else enumerate(config)
    for key, value in items:
        id_ = f"{prefix}#{key}" if prefix else str(key)
        if not prefix and id_ in _COMMAND_LISTS:
            continue
        yield id_
        if isinstance(value, (dict, list)):
            yield from _all_ids(value, id_)


def resolve_every_id(files: list[str], **overrides) -> int:
    """Resolve every id (nested ones too) of a command's configs, as the command would; returns how many."""
    workflow = ConfigWorkflow(config_file=files, logging_file=False, workflow_type=None, **overrides)
    workflow.initialize()
    ids = list(_all_ids(workflow.parser.get()))
    for id_ in ids:
        workflow.parser.get_parsed_content(id_)
    workflow.finalize()
    return len(ids)


def _held_out_image(settings: dict, key: str | None = None) -> str:
    """A held-out subject's image (``key``, or the item's first image) of the run's dataset."""
    data = settings["data"]
    manifest = json.loads(Path(data["manifest"]).read_text())
    split = "test" if manifest.get("test") else "validation"
    item = datalist(data["manifest"], data["dataset_dir"], split, settings.get("fold", 0))[0]
    return item[key or path_keys(item)[0]]


def _phantom_t2_pd(root: Path) -> dict[str, str]:
    from monai_pipelines.data.synthetic.ixi_phantom import write_ixi_phantom

    (subject,) = write_ixi_phantom(root, n_subjects=1, shape=(32, 24, 20), spacing=(6.0, 6.0, 6.0),
                                   sequences=("T2", "PD"))
    return {"t2": str(root / f"{subject}-T2.nii.gz"), "pd": str(root / f"{subject}-PD.nii.gz"), "register": "false"}


# per bundle: the checkpoint inference reads by default, the config that defines the exported network, the
# inference input of a held-out subject (from the run's recorded settings), verify_net_in_out's size arguments
END_TO_END = {
    "mri_to_ct_unet3d": ("checkpoint_best.pt", "inference.json",
                         lambda s, tmp: {"input_path": _held_out_image(s, "image")}, {}),
    "ct_phase_pix2pix": ("checkpoint_best.pt", "inference.json",
                         lambda s, tmp: {"input_path": _held_out_image(s)}, {}),
    "mmgan_missing_modality": ("mmgan_best.pth", "inference.json",
                               lambda s, tmp: {**_phantom_t2_pd(tmp / "raw"), "run_name": s["run_name"]}, {}),
    "glioma_grade_resnet50_3d": ("best.pt", "inference.json",
                                 lambda s, tmp: {"input_path": _held_out_image(s, "flair")}, {}),
    # a fold ensemble with per-member normalisation at inference: the exported network is one member's
    "glacier_segmentation": ("final_model.pt", "train.json",
                             lambda s, tmp: {"input_path": _held_out_image(s, "image"), "tta_rot90": "false"},
                             {"any": 32}),
}


def _tail(proc) -> str:
    return (proc.stdout + proc.stderr)[-2500:]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one_error_line(proc) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("parsing config_file")]
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr[-3000:]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, lines
    return errors[0]


# a user's mistake on the command line -> what its one error line must say
_MISTAKES = (
    (lambda tmp: {"amp": "yes"}, lambda tmp: "--amp: expected a boolean (true/false, True/False, 1/0), got 'yes'"),
    (lambda tmp: {"fold": 99}, lambda tmp: "fold 99 out of range"),
    (lambda tmp: {"dataset_dir": str(tmp / "x")}, lambda tmp: str(tmp / "x")),
    (lambda tmp: {"val_interval": 0}, lambda tmp: "--val_interval: expected an integer >= 1, got 0."),
    (lambda tmp: {"seed": "abc"}, lambda tmp: "--seed: expected an integer in [0, 4294967295], got 'abc'."),
)


@pytest.mark.parametrize("bundle", BUNDLES)
def test_second_checkout_lowercase_booleans_and_one_line_errors(bundle: str, tmp_path: Path, monkeypatch):
    overrides = {**TINY_SETUPS[bundle](tmp_path / "data"), "epochs": 1}
    overrides.pop("output_dir", None)
    clone = _second_checkout(bundle, tmp_path / "clone")

    proc = cli(bundle, "training", root=clone, **{**overrides, "amp": "false", "skip_corrupted": "False"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    records = list((clone / "bundles" / bundle / "runs").rglob("config/config.json"))
    assert len(records) == 1, "the run did not land in the checkout whose config was run"
    record = json.loads(records[0].read_text())
    assert record["settings"]["amp"] is False and record["settings"]["skip_corrupted"] is False
    assert str(clone) in record["settings"]["output_dir"]

    # every id of the training and evaluation configs resolves (evaluation from the run just trained)
    out = str(records[0].parents[1])
    for command in ("training", "evaluating"):
        files = configs_of(bundle, command, clone)
        assert resolve_every_id(files, **{**overrides, "output_dir": out}) > 20
    # multi_gpu_evaluate.json too, with distributed on: a 1-rank gloo group from the variables torchrun sets
    for key, value in {"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(_free_port())}.items():
        monkeypatch.setenv(key, value)
    files = configs_of(bundle, "evaluating", clone) + configs(bundle, "multi_gpu_evaluate.json", root=clone)
    assert resolve_every_id(files, **{**overrides, "output_dir": out}) > 20

    # evaluate, export, verify and infer from the trained run, found by the configs' defaults in the clone
    settings = record["settings"]
    proc = cli(bundle, "evaluating", root=clone, **{**overrides, "output_dir": out})
    assert proc.returncode == 0, _tail(proc)
    assert (Path(out) / "config" / "evaluating.json").is_file()
    ckpt_name, net_config, inputs, sizes = END_TO_END[bundle]
    (ckpt,) = (Path(out) / "checkpoints").glob(ckpt_name)
    bundle_dir = clone / "bundles" / bundle
    meta, net_files = str(bundle_dir / "configs" / "metadata.json"), str(bundle_dir / "configs" / net_config)
    # as the README types it: inference.json finds the checkpoint by its own defaults (no --ckpt_path), and
    # ckpt_export/verify_net_in_out resolve it without RunContext (run_name only where the run has another name)
    default_name = json.loads(Path(net_files).read_text()).get("run_name", "default")
    net_args = {"config_file": net_files, "meta_file": meta, **(
        ({"run_name": settings["run_name"]} if settings["run_name"] != default_name else {})
        if net_config == "inference.json" else overrides)}
    exported = Path(out) / "model.ts"
    proc = monai_bundle("ckpt_export", "network_def", root=clone, filepath=str(exported), ckpt_file=str(ckpt),
                        key_in_ckpt="network", **net_args)
    assert proc.returncode == 0, _tail(proc)
    assert exported.stat().st_size > 1000
    verify_net_in_out("network_def", **sizes, **net_args)  # in this process: the CLI's start-up is paid above
    proc = cli(bundle, "inference", root=clone, **inputs(settings, tmp_path))
    assert proc.returncode == 0, _tail(proc)
    written = [p for p in (bundle_dir / "runs").rglob("inference/*") if p.is_file()]
    assert written, "inference wrote nothing in the checkout whose config was run"

    # one bad command line per bundle, ending in one line (each kind of mistake is tried on some bundle)
    mistake, expected = _MISTAKES[BUNDLES.index(bundle) % len(_MISTAKES)]
    error = _one_error_line(cli(bundle, "training", root=clone, **{**overrides, **mistake(tmp_path)}))
    assert expected(tmp_path) in error
