"""Every bundle's second start (a resumed run, the next fold, evaluation) reads no image to screen it: the files
that passed at the first start are remembered while unchanged (at pix2pix's source scale the screening was 27 s of
every start)."""

from __future__ import annotations

import pytest
from monai.bundle import ConfigWorkflow

from monai_pipelines.data.screened_files import ScreenedFiles
from tests.bundles.runner import BUNDLES, configs
from tests.bundles.test_bad_inputs import TINY_NETWORKS, _tiny_training


@pytest.mark.parametrize("bundle", BUNDLES)
def test_a_second_start_screens_without_reading(bundle, tmp_path, monkeypatch):
    unknown = []
    shape = ScreenedFiles.shape

    def counting(self, paths):
        known = shape(self, paths)
        if known is None:
            unknown.append(paths)
        return known

    monkeypatch.setattr(ScreenedFiles, "shape", counting)
    overrides = {**_tiny_training(bundle, tmp_path / "data"), **TINY_NETWORKS.get(bundle, {})}
    reads = []
    for start in range(2):
        workflow = ConfigWorkflow(config_file=configs(bundle, "train.json")[0], workflow_type="train",
                                  logging_file=False, **{**overrides, "output_dir": str(tmp_path / f"run{start}")})
        workflow.initialize()
        workflow.parser.get_parsed_content("train#dataloader")
        workflow.parser.get_parsed_content("validate#dataloader")
        reads.append(len(unknown))
        unknown.clear()
    assert reads[0] > 0 and reads[1] == 0, reads
