"""The `monai-pipelines` dispatcher: sub-command registration, help, and one-line user errors."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import monai_pipelines
from monai_pipelines import cli


def test_every_command_module_registers_a_subcommand():
    for name in cli.COMMAND_MODULES:
        assert callable(importlib.import_module(name).add_parser), name
    choices = cli.build_parser()._subparsers._group_actions[0].choices
    assert "manifest" in choices


def test_console_script_help():
    script = Path(sys.executable).with_name("monai-pipelines")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "monai_pipelines.cli"]
    result = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: monai-pipelines") and "manifest" in result.stdout


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"monai-pipelines {monai_pipelines.__version__}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+", monai_pipelines.__version__)


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([])
    assert info.value.code == 2 and "required" in capsys.readouterr().err


def test_user_error_prints_one_line_and_returns_1(capsys, tmp_path):
    assert cli.main(["manifest", "show", str(tmp_path / "missing.json")]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == f"error: {tmp_path / 'missing.json'}: no such file\n"
