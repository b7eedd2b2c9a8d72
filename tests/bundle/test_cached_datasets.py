"""The bundles' in-memory caches (RunContext.cached_dataset) under ``cache_rate auto``: a run caches what fits its
share of the available memory and reads the rest on every access, and gets the same items; ``--cache_rate 1``
caches everything, as MONAI does (at MM-GAN's 20,000 prepared slices that was 16 GB per process)."""

from __future__ import annotations

import logging

import pytest
import torch
from monai.bundle import ConfigWorkflow
from monai.data import CacheDataset

from monai_pipelines.utils.errors import InputError, find_user_error, user_error_message
from tests.bundles.runner import BUNDLES, configs
from tests.bundles.test_bad_inputs import TINY_NETWORKS, _tiny_training

CACHING = [b for b in BUNDLES if "run_context.cached_dataset" in open(configs(b, "train.json")[0]).read()]


def _workflow(bundle: str, tmp_path, **overrides) -> ConfigWorkflow:
    overrides = {**_tiny_training(bundle, tmp_path / "data"), **TINY_NETWORKS.get(bundle, {}),
                 "output_dir": str(tmp_path / "run"), **overrides}
    workflow = ConfigWorkflow(config_file=configs(bundle, "train.json")[0], workflow_type="train",
                              logging_file=False, **overrides)
    workflow.initialize()
    return workflow


def _tensors(item) -> list[torch.Tensor]:
    item = item[0] if isinstance(item, list) else item
    return [torch.as_tensor(v) for _, v in sorted(item.items()) if isinstance(v, torch.Tensor)]


def test_three_bundles_cache_in_memory():
    assert CACHING == ["mri_to_ct_unet3d", "mmgan_missing_modality", "glacier_segmentation"]


@pytest.mark.parametrize("bundle", CACHING)
def test_a_run_without_memory_to_spare_reads_its_items_again_and_gets_the_same(bundle, tmp_path, monkeypatch,
                                                                              caplog):
    full = _workflow(bundle, tmp_path / "full", cache_rate=1)
    monkeypatch.setattr("monai_pipelines.data.cache_budget.available_memory", lambda: 0)
    with caplog.at_level(logging.INFO, logger="monai_pipelines"):
        auto = _workflow(bundle, tmp_path / "auto")  # the bundle's default: auto
    datasets = {}
    for name, workflow in (("full", full), ("auto", auto)):
        dataset = workflow.parser.get_parsed_content("validate#dataset")
        assert isinstance(dataset, CacheDataset)
        datasets[name] = dataset
    assert datasets["full"].cache_num == len(datasets["full"]) > 0
    assert datasets["auto"].cache_num == 0
    assert f"caching 0 of {len(datasets['auto'])} items in memory" in caplog.text
    for index in range(len(datasets["full"])):
        for a, b in zip(_tensors(datasets["full"][index]), _tensors(datasets["auto"][index]), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("bundle", CACHING)
def test_a_wrong_cache_rate_ends_in_one_line(bundle, tmp_path):
    with pytest.raises(Exception) as info:
        _workflow(bundle, tmp_path, cache_rate=2)
    assert isinstance(find_user_error(info.value), InputError)
    assert user_error_message(find_user_error(info.value)) == (
        "--cache_rate: expected a number from 0 to 1 or auto, got 2.")
