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


@pytest.mark.parametrize("progress", [True, False])
def test_inference_shows_a_bar_over_its_inputs_when_asked(progress, tmp_path, capsys):
    from monai.bundle import run

    from tests.bundles import bad_inputs
    from tests.bundles.runner import configs
    from tests.bundles.test_bad_inputs import _checkpoint

    ckpt = _checkpoint("mri_to_ct_unet3d", tmp_path / "model")
    folder = tmp_path / "inputs"
    folder.mkdir()
    for i in range(2):
        bad_inputs.write_nifti(folder / f"case_{i}.nii.gz", bad_inputs.good_volume(i))
    run("inference", config_file=configs("mri_to_ct_unet3d", "inference.json")[0], logging_file=False,
        ckpt_path=str(ckpt), input_path=str(folder), output_dir=str(tmp_path / "out"), panels=False, progress=progress)
    err = capsys.readouterr().err
    assert ("inference: [" in err or "inference:" in err and "2/2" in err) == progress, err[-2000:]
