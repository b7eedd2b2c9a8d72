"""A bundle's training shows progress bars (engines and dataset caching) only when asked or on a terminal."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bundles.runner import run_workflow
from tests.bundles.test_mmgan_missing_modality import _overrides, _slices_dataset


@pytest.fixture(scope="module")
def slices(tmp_path_factory) -> Path:
    return _slices_dataset(tmp_path_factory.mktemp("slices"))


@pytest.mark.parametrize("progress", [True, False])
def test_progress_setting_turns_every_bar_on_or_off(progress, slices, tmp_path, capsys):
    run_workflow("mmgan_missing_modality", "train.json", progress=progress,
                 **_overrides(slices, tmp_path / "run", epochs=1, features=4))
    err = capsys.readouterr().err  # pytest's capture is no terminal: without the setting no bar would show
    bars = ("train: [", "validate: [", "Loading dataset")  # trainer, evaluator, CacheDataset
    assert [bar in err for bar in bars] == [progress] * 3, err[-2000:]
