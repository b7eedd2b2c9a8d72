"""Strict numbers for the standard ids that count: a wrong value is one line naming the id, in every bundle."""

from __future__ import annotations

import pytest
from monai.bundle import ConfigWorkflow

from monai_pipelines.bundle.numbers import STANDARD_NUMBERS, parse_number
from monai_pipelines.utils.errors import InputError
from tests.bundles.runner import BUNDLES, configs
from tests.bundles.test_bad_inputs import TINY_NETWORKS, _tiny_training


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("val_interval", 2, 2), ("val_interval", "3", 3), ("val_interval", 4.0, 4), ("seed", 0, 0),
    ("checkpoint_iterations", None, None), ("checkpoint_iterations", "null", None), ("num_workers", "0", 0),
    ("time_budget", "90.5", 90.5), ("time_budget", None, None), ("log_interval", " 10 ", 10),
])
def test_counts_and_amounts_are_read(name, value, expected):
    parsed = parse_number(value, name, STANDARD_NUMBERS[name])
    assert parsed == expected and type(parsed) is type(expected)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("val_interval", 0, "--val_interval: expected an integer >= 1, got 0."),
    ("val_interval", 2.5, "--val_interval: expected an integer >= 1, got 2.5."),
    ("seed", "abc", "--seed: expected an integer in [0, 4294967295], got 'abc'."),
    ("seed", 2**32, "--seed: expected an integer in [0, 4294967295]"),
    ("checkpoint_iterations", -3, "--checkpoint_iterations: expected an integer >= 1 or null, got -3."),
    ("num_workers", -1, "--num_workers: expected an integer >= 0 or null, got -1."),
    ("time_budget", "soon", "--time_budget: expected a number >= 0 or null, got 'soon'."),
    ("time_budget", "nan", "--time_budget: expected a number >= 0 or null"),
    ("log_interval", True, "--log_interval: expected an integer >= 1, got True."),
    ("log_interval", None, "--log_interval: expected an integer >= 1, got None."),
])
def test_a_wrong_value_is_one_line(name, value, message):
    with pytest.raises(InputError) as err:
        parse_number(value, name, STANDARD_NUMBERS[name])
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


#: one wrong value per bundle (each id on some bundle); before, each ended in a 60-100 line traceback
WRONG = {"mri_to_ct_unet3d": ("val_interval", 0), "ct_phase_pix2pix": ("seed", "abc"),
         "mmgan_missing_modality": ("checkpoint_iterations", -3), "glioma_grade_resnet50_3d": ("num_workers", -1),
         "glacier_segmentation": ("time_budget", "soon")}


@pytest.mark.parametrize("bundle", BUNDLES)
def test_every_bundle_refuses_a_wrong_count_before_it_starts(bundle, tmp_path):
    name, value = WRONG[bundle]
    overrides = {**_tiny_training(bundle, tmp_path / "data"), **TINY_NETWORKS.get(bundle, {}),
                 "output_dir": str(tmp_path / "run"), name: value}
    workflow = ConfigWorkflow(config_file=configs(bundle, "train.json")[0], workflow_type="train",
                              logging_file=False, **overrides)
    with pytest.raises(Exception) as err:
        workflow.initialize()
    chain, error = [], err.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert any(isinstance(e, InputError) and str(e).startswith(f"--{name}: expected ") for e in chain), chain
    assert not (tmp_path / "run" / "checkpoints").exists()
