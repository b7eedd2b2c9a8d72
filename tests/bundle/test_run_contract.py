"""RunContract: a mapping of what training recorded; RunContext gives evaluation/inference configs its values."""

from __future__ import annotations

import pytest
import torch
from monai.bundle import ConfigParser

from monai_pipelines.bundle import RunContract
from monai_pipelines.utils.errors import InputError, find_user_error


def _checkpoint(tmp_path):
    contract = {"network_def": {"_target_": "torch.nn.Conv3d", "in_channels": 1, "out_channels": 2,
                                "kernel_size": 3, "_ids_": {"out_channels": "channels"}},
                "spacing": [1.5, 1.5, 2.0], "hu_window": [-1000.0, 2000.0]}
    path = tmp_path / "best.pt"
    torch.save({"network": torch.nn.Conv3d(1, 2, 3).state_dict(), "contract": contract}, path)
    return path


def test_mapping_protocol(tmp_path):
    contract = RunContract.load(_checkpoint(tmp_path))
    assert "spacing" in contract and "orientation" not in contract
    assert contract.get("orientation", "RAS") == "RAS" and contract.get("spacing") == [1.5, 1.5, 2.0]
    with pytest.raises(InputError, match="records no 'orientation'"):
        contract["orientation"]


def _inference_config(ckpt, **settings) -> ConfigParser:
    config = {
        "imports": ["$import monai_pipelines"], "ckpt_path": str(ckpt), "output_dir": str(ckpt.parent / "out"),
        "trained": "$monai_pipelines.bundle.RunContract.load(@ckpt_path)",
        "network_def": "$@trained.network()",
        "window": {"low": "@hu_window#0", "high": "@hu_window#1"},
        "grid": "@spacing", "width": "@channels",
        "run_context": {"_target_": "monai_pipelines.bundle.RunContext", "command": "inference"},
        **settings,
    }
    return ConfigParser(config)


def test_inference_config_reads_the_trained_values_by_plain_reference(tmp_path):
    parser = _inference_config(_checkpoint(tmp_path))
    parser.get_parsed_content("run_context")  # RunContext sets the contract's ids first
    assert parser.get_parsed_content("grid") == [1.5, 1.5, 2.0]
    assert parser.get_parsed_content("window") == {"low": -1000.0, "high": 2000.0}
    assert parser.get_parsed_content("width") == 2  # a network argument's id
    assert parser.get_parsed_content("network_def").out_channels == 2


def test_a_contradicting_setting_is_refused(tmp_path):
    parser = _inference_config(_checkpoint(tmp_path), spacing=[1.0, 1.0, 1.0])
    with pytest.raises(RuntimeError) as info:
        parser.get_parsed_content("run_context")
    assert "--spacing [1.0, 1.0, 1.0] contradicts the trained model" in str(find_user_error(info.value))
    agreeing = _inference_config(_checkpoint(tmp_path), spacing=[1.5, 1.5, 2.0])
    agreeing.get_parsed_content("run_context")
    assert agreeing.get_parsed_content("grid") == [1.5, 1.5, 2.0]
