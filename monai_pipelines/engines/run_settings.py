"""Engines take the run's device and precision from the command's RunContext: ``"run": "@run_context"``.

Every bundle's trainers and evaluators would otherwise repeat ``device``, ``amp``, ``amp_dtype`` and
``channels_last`` in each engine block; an argument given explicitly still wins.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["RUN_SETTINGS", "takes_run_settings"]

RUN_SETTINGS: dict[str, Callable[[Any], Any]] = {
    "device": lambda run: run.device,
    "amp": lambda run: bool(run.get("amp", False)),
    "amp_dtype": lambda run: run.get("amp_dtype"),
    "channels_last": lambda run: bool(run.get("channels_last", False)),
}

T = TypeVar("T", bound=type)


def takes_run_settings(cls: T) -> T:
    """Give ``cls.__init__`` a ``run`` argument that fills the settings above which it accepts and were not given."""
    init = cls.__init__
    parameters = inspect.signature(init).parameters
    open_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    accepted = [name for name in RUN_SETTINGS if name in parameters or open_kwargs]

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, run: Any = None, **kwargs: Any) -> None:
        if run is not None:
            for name in accepted:
                if name not in kwargs:
                    kwargs[name] = RUN_SETTINGS[name](run)
        init(self, *args, **kwargs)

    cls.__init__ = __init__  # type: ignore[method-assign]
    return cls
