"""The ids every bundle command has (README: "Standard ids"), with the value a config gets when it does not set one.

They are run wiring, the same in all five bundles, so they are written here once instead of in every config: a
bundle's config sets only those whose value is its own (glioma's ``output_dir``, MM-GAN's ``run_name``, the demo
dataset's name). ``RunContext`` adds the missing ones to the config being run before anything else is resolved, so
``@output_dir`` in a config, ``--amp true`` on the command line and the resolved record in ``config/config.json``
work as if the config had written them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["STANDARD_BOOLEANS", "missing_standard_ids", "standard_ids"]

_DEVICE = "$monai_pipelines.bundle.default_device()"
# amp and channels_last: on where they measured faster for the bundle's network (speed_defaults); a bundle lists its
# own device types where they differ (glioma's ResNet50-3D also wins with AMP on CUDA; mri_to_ct's 3D U-Net with
# channels-last)
_SPEED = {"amp": "$monai_pipelines.bundle.default_amp(@device, @amp_devices)", "amp_devices": ["cpu"],
          "amp_dtype": None,
          "channels_last": "$monai_pipelines.bundle.default_channels_last(@device, @channels_last_devices, @amp)",
          "channels_last_devices": []}

#: training (and evaluate.json, which runs on top of train.json)
TRAINING: dict[str, Any] = {
    "dataset_dir": None,
    "manifest": None,
    "data": {"_target_": "monai_pipelines.data.demo.resolve_dataset", "dataset_dir": "@dataset_dir",
             "manifest": "@manifest", "demo": "@demo"},
    "fold": 0,
    "run_name": "default",
    "output_dir": "$monai_pipelines.bundle.run_dir(@bundle_root, @run_name, @fold)",
    "device": _DEVICE,
    "seed": 42,
    "num_workers": None,
    **_SPEED,
    "fused_optimizer": "$monai_pipelines.bundle.default_fused_optimizer(@device)",
    "compile": False,
    "skip_corrupted": False,
    "val_interval": 1,
    "log_interval": 1,
    "time_budget": None,
    "checkpoint_iterations": None,
}

#: inference.json
INFERENCE: dict[str, Any] = {
    "run_name": "default",
    "fold": 0,
    "input_path": None,
    "output_dir": "$monai_pipelines.bundle.run_dir(@bundle_root, @run_name) + '/inference'",
    "device": _DEVICE,
    "skip_corrupted": False,
    **_SPEED,
    "num_workers": 0,
}

#: standard ids that are booleans (strictly parsed on the command line like the configs' own)
STANDARD_BOOLEANS = frozenset(
    {"amp", "channels_last", "fused_optimizer"} | {k for table in (TRAINING, INFERENCE) for k, v in table.items() if isinstance(v, bool)})

# a default that only makes sense when the config has what it refers to
_NEEDS = {"data": "demo", "output_dir": "bundle_root"}
# ids added only where the config refers to them (MM-GAN's inference reads t1/t2/pd, not input_path)
_WHEN_REFERENCED = {"input_path"}


def standard_ids(command: str) -> dict[str, Any]:
    """The standard ids of ``command`` ("inference", or a training/evaluation command) with their defaults."""
    return dict(INFERENCE if command == "inference" else TRAINING)


def missing_standard_ids(command: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The standard ids of ``command`` that ``config`` does not set, with their defaults."""
    text = json.dumps(dict(config), default=str)
    return {key: value for key, value in standard_ids(command).items()
            if key not in config and (key not in _NEEDS or _NEEDS[key] in config)
            and (key not in _WHEN_REFERENCED or re.search(rf"@{key}\b", text))}
