"""Strict command-line numbers for the standard ids that count: ``--val_interval 0``, ``--seed abc`` or
``--time_budget soon`` end in one line naming the id, instead of a traceback from inside an engine or a handler.

python-fire hands ``--val_interval 2`` over as the integer 2 and ``--val_interval two`` as the string "two"; a
config's expressions (``$...``) and references (``@...``) are left to the config.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping
from typing import Any, NamedTuple

from monai_pipelines.bundle.booleans import is_config_reference
from monai_pipelines.utils.errors import InputError

__all__ = ["NumberSpec", "STANDARD_NUMBERS", "parse_number", "parse_numbers"]


class NumberSpec(NamedTuple):
    """What an id accepts: an integer (else any real number) in [minimum, maximum], and null where ``optional``."""

    integer: bool = True
    minimum: float = 0
    maximum: float = math.inf
    optional: bool = False


#: the standard ids (standard_ids.py) that hold a count or an amount
STANDARD_NUMBERS: dict[str, NumberSpec] = {
    "seed": NumberSpec(maximum=2**32 - 1),  # MONAI's set_determinism takes [0, 2**32)
    "val_interval": NumberSpec(minimum=1),
    "log_interval": NumberSpec(minimum=1),
    "checkpoint_iterations": NumberSpec(minimum=1, optional=True),
    "num_workers": NumberSpec(optional=True),
    "time_budget": NumberSpec(integer=False, optional=True),
}

_NULLS = {"none", "null", ""}


def _describe(spec: NumberSpec) -> str:
    kind = "an integer" if spec.integer else "a number"
    low = int(spec.minimum) if spec.integer else spec.minimum
    bounds = f">= {low}" if spec.maximum == math.inf else f"in [{low}, {int(spec.maximum)}]"
    return f"{kind} {bounds}" + (" or null" if spec.optional else "")


def parse_number(value: Any, name: str, spec: NumberSpec) -> int | float | None:
    """``value`` as the number ``spec`` asks for (a numeric string is read); else one-line InputError."""
    if value is None or (isinstance(value, str) and value.strip().lower() in _NULLS):
        if spec.optional:
            return None
    elif not isinstance(value, bool):
        try:
            number = float(value.strip()) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            number = math.nan
        if math.isfinite(number) and spec.minimum <= number <= spec.maximum:
            if not spec.integer:
                return number
            if number.is_integer():
                return int(number)
    raise InputError(f"--{name}: expected {_describe(spec)}, got {value!r}.")


def parse_numbers(config: MutableMapping[str, Any], specs: Mapping[str, NumberSpec] = STANDARD_NUMBERS
                  ) -> dict[str, int | float | None]:
    """Replace the values of ``specs``' ids in ``config`` by their strict parse; returns those that changed."""
    changed = {}
    for key, spec in specs.items():
        if key not in config:
            continue
        value = config[key]
        if is_config_reference(value):
            continue
        parsed = parse_number(value, key, spec)
        if parsed != value or type(parsed) is not type(value):
            changed[key] = parsed
    config.update(changed)
    return changed
