"""Strict command-line booleans: ``--amp false`` means False, ``--amp yes`` is refused.

MONAI's CLI (python-fire) passes ``--amp false`` through as the string "false", which a config then uses as a
truthy value; ``--amp 1`` arrives as the integer 1. A setting is a boolean when a config file of the bundle gives it
a JSON ``true``/``false``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from monai_pipelines.utils.errors import InputError

__all__ = ["BOOLEAN_SPELLINGS", "boolean_ids", "is_config_reference", "parse_bool", "parse_booleans"]

BOOLEAN_SPELLINGS: dict[Any, bool] = {
    "true": True, "True": True, "1": True, 1: True,
    "false": False, "False": False, "0": False, 0: False,
}


def parse_bool(value: Any, name: str = "value") -> bool:
    """``value`` as a bool when it is true/false/True/False/1/0 (string or number); else one-line InputError."""
    if isinstance(value, bool):
        return value
    key = value.strip() if isinstance(value, str) else value
    if isinstance(key, (str, int)) and not isinstance(key, bool) and key in BOOLEAN_SPELLINGS:
        return BOOLEAN_SPELLINGS[key]
    raise InputError(f"--{name}: expected a boolean (true/false, True/False, 1/0), got {value!r}.")


def is_config_reference(value: Any) -> bool:
    """A config expression (``$...``), reference (``@...``) or macro (``%...``): the config resolves it."""
    return isinstance(value, str) and value.startswith(("$", "@", "%"))


def boolean_ids(configs: Iterable[Mapping[str, Any]]) -> set[str]:
    """Top-level ids that hold a JSON boolean in any of ``configs``."""
    return {key for config in configs for key, value in config.items() if isinstance(value, bool)}


def parse_booleans(config: MutableMapping[str, Any], ids: Iterable[str]) -> dict[str, bool]:
    """Replace the values of boolean ``ids`` in ``config`` that are not bools by their strict parse; returns the
    replaced ones. Expressions (``$...``) and references (``@...``) are left to the config."""
    changed = {}
    for key in ids:
        if key not in config:
            continue
        value = config[key]
        if isinstance(value, bool) or value is None:
            continue
        if is_config_reference(value):
            continue
        changed[key] = parse_bool(value, key)
    config.update(changed)
    return changed
