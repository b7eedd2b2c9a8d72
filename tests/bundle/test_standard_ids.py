"""The standard ids: RunContext gives a config those it does not set, and only those."""

from __future__ import annotations

import pytest
from monai.bundle import ConfigParser

from monai_pipelines.bundle.standard_ids import TRAINING, missing_standard_ids
from monai_pipelines.utils.errors import InputError, find_user_error


def _run_context(config: dict):
    parser = ConfigParser({"run_context": {"_target_": "monai_pipelines.bundle.RunContext"}, **config})
    return parser, parser.get_parsed_content("run_context")


def test_a_config_gets_the_standard_ids_it_lacks_and_keeps_its_own(tmp_path):
    parser, run = _run_context({"bundle_root": str(tmp_path), "run_name": "mine", "amp": "true", "demo": "x"})
    assert run.output_dir == tmp_path / "runs" / "mine" / "fold_0"  # the default output_dir, from its own run_name
    assert parser.get_parsed_content("amp") is True  # a standard boolean is parsed strictly, also when not written
    assert run.seed == TRAINING["seed"] and run.get("channels_last") is False and "time_budget" in parser
    assert parser.config["data"]["demo"] == "@demo"  # the dataset location is built from the bundle's demo name
    with pytest.raises(RuntimeError) as error:  # MONAI wraps what the component raised
        _run_context({"compile": "yes"})
    assert isinstance(find_user_error(error.value), InputError) and "--compile" in str(find_user_error(error.value))


def test_ids_with_a_precondition():
    assert "data" not in missing_standard_ids("training", {})  # no demo dataset named: no data component
    assert "output_dir" not in missing_standard_ids("training", {})  # no bundle_root to put it under
    assert "input_path" not in missing_standard_ids("inference", {"t1": None})  # read by name, not input_path
    assert "input_path" in missing_standard_ids("inference", {"datalist": "$f(@input_path)"})
