"""`monai-pipelines evaluate`: the bundle's evaluation command with --subjects; bundles without it refused in a line."""

from __future__ import annotations

import ast

import pytest

from monai_pipelines.cli import build_parser, main


def test_command_line_of_the_bundle_evaluation():
    from monai_pipelines.bundle.evaluate_cli import evaluate_command

    args = build_parser().parse_args(["evaluate", "mri_to_ct_unet3d", "--test-patients", "data/set/patient_051",
                                      "051", "--checkpoint", "best.pt", "--fold", "2"])
    cmd = evaluate_command(args)
    assert cmd[1:5] == ["-m", "monai.bundle", "run", "evaluating"]
    assert cmd[cmd.index("--config_file") + 1].endswith("/mri_to_ct_unet3d/configs/evaluate.json']")
    # a list literal, so python-fire keeps '051' a string
    assert ast.literal_eval(cmd[cmd.index("--subjects") + 1]) == ["data/set/patient_051", "051"]
    assert cmd[cmd.index("--ckpt_path") + 1] == "best.pt" and cmd[cmd.index("--fold") + 1] == "2"
    assert "--run_name" not in cmd


def test_bundle_without_subjects_is_one_line(capsys):
    assert main(["evaluate", "glacier_segmentation", "--subjects", "a"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no 'subjects' setting" in err[0]


def test_help_names_the_guides_option(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert "--test-patients" in capsys.readouterr().out
