"""One way to run a bundle command in tests: in-process (``monai.bundle.run``) or as the CLI a user types."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from monai.bundle import run

from monai_pipelines.utils.paths import repo_root

BUNDLES = ("mri_to_ct_unet3d", "ct_phase_pix2pix", "mmgan_missing_modality", "glioma_grade_resnet50_3d",
           "glacier_segmentation")
CONFIG_FILES = {"training": ("train.json",), "evaluating": ("train.json", "evaluate.json"),
                "inference": ("inference.json",)}


def configs(bundle: str, *names: str, root: Path | None = None) -> list[str]:
    folder = (root or repo_root()) / "bundles" / bundle / "configs"
    return [str(folder / name) for name in names]


def run_bundle(bundle: str, command: str, *extra_configs: str, **overrides: Any) -> None:
    """``python -m monai.bundle run <command>`` in this process, no logging config."""
    files = configs(bundle, *CONFIG_FILES[command]) + configs(bundle, *extra_configs)
    files = files[-1:] if command == "inference" and extra_configs else files
    run(command, config_file=files if len(files) > 1 else files[0], logging_file=False, **overrides)


def cli(bundle: str, command: str, *extra_configs: str, root: Path | None = None, timeout: float = 600,
        args: list[str] | None = None, **overrides: Any) -> subprocess.CompletedProcess:
    """The command line a user types (run from ``root``'s repository folder), values written as JSON."""
    cmd = cli_command(bundle, command, *extra_configs, root=root, **overrides) + (args or [])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=root or repo_root())


def cli_command(bundle: str, command: str, *extra_configs: str, root: Path | None = None, **overrides: Any
                ) -> list[str]:
    """``python -m monai.bundle run <command> --config_file ... --key value ...`` as an argument list."""
    files = configs(bundle, *CONFIG_FILES[command], *extra_configs, root=root)
    config_arg = files[0] if len(files) == 1 else "[" + ",".join(f"'{f}'" for f in files) + "]"
    cmd = [sys.executable, "-m", "monai.bundle", "run", command, "--config_file", config_arg]
    for key, value in overrides.items():
        cmd += [f"--{key}", value if isinstance(value, str) else json.dumps(value).replace(" ", "")]
    return cmd


def monai_bundle(script: str, *args: str, root: Path | None = None, timeout: float = 600,
                 **overrides: Any) -> subprocess.CompletedProcess:
    """``python -m monai.bundle <script> <args> --key value ...`` (export, verify_net_in_out...), run from ``root``."""
    cmd = [sys.executable, "-m", "monai.bundle", script, *args]
    for key, value in overrides.items():
        cmd += [f"--{key}", value if isinstance(value, str) else json.dumps(value).replace(" ", "")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=root or repo_root())


def run_workflow(bundle: str, config_file: str | list[str], run_id: str = "training", **overrides: Any):
    """A ConfigWorkflow of ``bundle``'s config file(s) (names under configs/), initialised, run and finalised."""
    from monai.bundle import ConfigWorkflow

    names = config_file if isinstance(config_file, list) else [config_file]
    files = configs(bundle, *names)
    workflow = ConfigWorkflow(config_file=files if len(files) > 1 else files[0], workflow_type="train",
                              run_id=run_id, **overrides)
    workflow.initialize()
    workflow.run()
    workflow.finalize()
    return workflow


def tensorboard_steps(log_dir: Path) -> dict[str, list[int]]:
    """TensorBoard tag -> the steps it was written at (scalars and images), over every event file of ``log_dir``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    steps: dict[str, list[int]] = {}
    for path in sorted(Path(log_dir).glob("events.out.tfevents.*")):
        events = EventAccumulator(str(path), size_guidance={"scalars": 0, "images": 0})
        events.Reload()
        for tag in events.Tags()["scalars"]:
            steps.setdefault(tag, []).extend(e.step for e in events.Scalars(tag))
        for tag in events.Tags()["images"]:
            steps.setdefault(tag, []).extend(e.step for e in events.Images(tag))
    return {tag: sorted(s) for tag, s in steps.items()}
