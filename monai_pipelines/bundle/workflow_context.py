"""The MONAI config parser and command that are running a bundle config, found on the call stack.

MONAI hands a config expression neither the ``ConfigParser`` evaluating it nor the file it came from, but run
wiring needs both: ``bundle_root`` is the folder of the config being run, provenance records resolved values,
booleans and the trained-run contract are checked against the bundle's own config files. Every MONAI entry point
(``run``, ``run_workflow``, ``ckpt_export``, ``onnx_export``, ``verify_net_in_out``) evaluates expressions from a
``ConfigParser`` method, and ``run`` does so from a ``ConfigWorkflow``, so both are on the stack.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from monai.bundle import ConfigParser, ConfigWorkflow

__all__ = ["active_command", "active_config_dir", "active_parser", "active_workflow"]

_SCRIPTS = str(Path("monai", "bundle", "scripts.py"))
_SCRIPT_CONFIG_LOCALS = ("config_file_", "config_file")


def _frames() -> Iterator[FrameType]:
    frame = inspect.currentframe()
    try:
        frame = frame.f_back if frame is not None else None
        while frame is not None:
            yield frame
            frame = frame.f_back
    finally:
        del frame


def _self_of(frame: FrameType) -> Any:
    return frame.f_locals.get("self")


def active_workflow() -> ConfigWorkflow | None:
    """The ``ConfigWorkflow`` running the current command (``python -m monai.bundle run ...``), or None."""
    for frame in _frames():
        obj = _self_of(frame)
        if isinstance(obj, ConfigWorkflow):
            return obj
    return None


def active_parser() -> ConfigParser | None:
    """The ``ConfigParser`` whose content is being resolved (any MONAI bundle entry point), or None."""
    for frame in _frames():
        obj = _self_of(frame)
        if isinstance(obj, ConfigParser):
            return obj
        if isinstance(obj, ConfigWorkflow):
            return obj.parser
    return None


def _first_path(value: Any) -> Path | None:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    if isinstance(value, (str, Path)) and str(value):
        return Path(value)
    return None


def active_config_dir() -> Path | None:
    """The folder of the (first) config file of the running command, or None when not run from a file."""
    for frame in _frames():
        obj = _self_of(frame)
        if isinstance(obj, ConfigWorkflow):
            return Path(obj.config_root_path).resolve()
        if frame.f_code.co_filename.endswith(_SCRIPTS):
            for name in _SCRIPT_CONFIG_LOCALS:
                path = _first_path(frame.f_locals.get(name))
                if path is not None:
                    return path.resolve().parent
    return None


def active_command() -> str | None:
    """The id being run (``training``, ``evaluating``, ``inference``...), or None outside ``monai.bundle run``."""
    workflow = active_workflow()
    return None if workflow is None else str(workflow.run_id)
