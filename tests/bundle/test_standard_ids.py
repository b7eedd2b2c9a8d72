"""The standard ids: RunContext gives a config those it does not set, and only those."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from monai.bundle import ConfigParser

from monai_pipelines.bundle.standard_ids import TRAINING, missing_standard_ids
from monai_pipelines.utils.errors import InputError, find_user_error
from tests.bundles.runner import BUNDLES, CONFIG_FILES, configs

SPEED_IDS = ("amp", "amp_devices", "amp_dtype", "channels_last", "channels_last_devices")


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


def test_speed_defaults_follow_the_bundles_device_lists(monkeypatch):
    from monai_pipelines.engines import amp

    monkeypatch.setattr(amp, "cpu_has_native_bf16", lambda: True)
    assert _run_context({"device": "cpu"})[0].get_parsed_content("amp") is True
    assert _run_context({"device": "cpu", "amp_devices": ["cuda"]})[0].get_parsed_content("amp") is False
    parser = _run_context({"device": "cpu", "channels_last_devices": ["cpu"]})[0]
    assert parser.get_parsed_content("channels_last") is True  # with bf16 autocast on a CPU
    monkeypatch.setattr(amp, "cpu_has_native_bf16", lambda: False)
    assert _run_context({"device": "cpu"})[0].get_parsed_content("amp") is False
    parser = _run_context({"device": "cpu", "channels_last_devices": ["cpu"]})[0]
    assert parser.get_parsed_content("channels_last") is False  # fp32 on this CPU: channels-last was slower


def test_ids_with_a_precondition():
    assert "data" not in missing_standard_ids("training", {})  # no demo dataset named: no data component
    assert "output_dir" not in missing_standard_ids("training", {})  # no bundle_root to put it under
    assert "input_path" not in missing_standard_ids("inference", {"t1": None})  # read by name, not input_path
    assert "input_path" in missing_standard_ids("inference", {"datalist": "$f(@input_path)"})


def _speed_settings(bundle: str, command: str) -> dict:
    config: dict = {}
    for path in configs(bundle, *CONFIG_FILES[command]):
        config.update(json.loads(Path(path).read_text()))
    config = {**missing_standard_ids(command, config), **config}
    return {key: config[key] for key in SPEED_IDS}


@pytest.mark.parametrize("bundle", BUNDLES)
def test_inference_computes_as_evaluation_does(bundle):
    """inference.json runs the network in the precision and memory format evaluation measured (glioma's inference
    ran in fp32 beside a bf16 evaluation on a CPU with native bf16: probabilities 1.4e-3 apart)."""
    assert _speed_settings(bundle, "inference") == _speed_settings(bundle, "evaluating")


@pytest.mark.parametrize("bundle", BUNDLES)
def test_every_optimizer_is_fused_where_torch_has_the_kernels(bundle, tmp_path):
    """``fused_optimizer`` (default: on the device types with fused kernels, CPUs and CUDA) reaches every optimizer
    a bundle trains (a GAN's two); ``--fused_optimizer false`` gives torch's default implementation."""
    from benchmarks.bench_optimizer import optimizer_ids

    config = json.loads(Path(configs(bundle, "train.json")[0]).read_text())
    ids = optimizer_ids(config)
    assert ids and len(ids) == (2 if bundle in ("ct_phase_pix2pix", "mmgan_missing_modality") else 1)
    for setting, fused in ((None, True), ("false", False)):
        overrides = {"device": "cpu", "output_dir": str(tmp_path)} | ({"fused_optimizer": setting} if setting else {})
        parser = ConfigParser({**config, **overrides})
        parser.get_parsed_content("run_context")
        assert [bool(parser.get_parsed_content(key).defaults.get("fused")) for key in ids] == [fused] * len(ids)
