"""save_run_config: settings (made JSON-safe), command line and versions in <output_dir>/config/<name>."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import monai
import numpy as np
import pytest
import torch

import monai_pipelines
from monai_pipelines.utils.run_config import save_run_config


def test_writes_settings_command_versions(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["train.py", "--epochs", "3"])
    settings = {
        "epochs": 3,
        "lr": 1e-3,
        "amp": True,
        "fold": None,
        "output_dir": tmp_path / "run",
        "device": torch.device("cpu"),
        "roi": (64, 64, 32),
        "nested": {1: [Path("a"), {"k": "v"}]},
    }
    path = save_run_config(tmp_path / "run", settings)
    assert path == tmp_path / "run" / "config" / "config.json"
    record = json.loads(path.read_text())
    assert record["settings"] == {
        "epochs": 3,
        "lr": 1e-3,
        "amp": True,
        "fold": None,
        "output_dir": str(tmp_path / "run"),
        "device": "cpu",
        "roi": [64, 64, 32],
        "nested": {"1": ["a", {"k": "v"}]},
    }
    assert record["command"] == ["train.py", "--epochs", "3"]
    assert record["versions"]["monai"] == monai.__version__ and record["versions"]["torch"] == torch.__version__
    assert record["versions"]["monai_pipelines"] == monai_pipelines.__version__
    assert record["versions"]["python"].count(".") == 2
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.json"]  # no temp file left


def test_numpy_torch_numbers_and_non_finite_floats_are_valid_json(tmp_path):
    settings = {"seed": np.int64(7), "w": np.float32(0.5), "flag": np.bool_(True), "spacing": np.array([1.0, 2.0]),
                "scale": torch.tensor(2.5), "best": float("nan"), "limit": float("inf")}
    path = save_run_config(tmp_path, settings, name="eval.json")
    assert path.name == "eval.json"
    record = json.loads(path.read_text(), parse_constant=pytest.fail)["settings"]  # no NaN/Infinity tokens
    assert record == {"seed": 7, "w": 0.5, "flag": True, "spacing": [1.0, 2.0], "scale": 2.5, "best": "nan",
                      "limit": "inf"}
    assert type(record["seed"]) is int


def test_overwrites_previous_record(tmp_path):
    save_run_config(tmp_path, {"a": 1})
    path = save_run_config(tmp_path, {"a": 2})
    assert json.loads(path.read_text())["settings"] == {"a": 2}
