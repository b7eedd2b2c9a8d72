"""Engines take the run's settings from the command's RunContext: ``"run": "@run_context"``.

Every bundle's trainers and evaluators would otherwise repeat in each engine block the run's ``device``, ``amp``,
``amp_dtype`` and ``channels_last``, and the standard ids they are wired to (``@epochs``, ``@network``, ``@loss``,
``@train#dataloader``, ``@train#handlers``, ``@validate#dataloader``; in inference, the model zoo's
``@dataloader``, ``@inferer``, ``@postprocessing`` and ``@handlers``). An argument given explicitly still wins; an
id the config does not have is not filled in.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["INFERENCE_IDS", "RUN_IDS", "RUN_SETTINGS", "takes_run_settings"]

RUN_SETTINGS: dict[str, Callable[[Any], Any]] = {
    "device": lambda run: run.device,
    "amp": lambda run: bool(run.get("amp", False)),
    "amp_dtype": lambda run: run.get("amp_dtype"),
    "channels_last": lambda run: bool(run.get("channels_last", False)),
}

#: engine argument -> the config id it is wired to when the engine block does not give it
RUN_IDS: dict[str, str] = {
    "max_epochs": "epochs",
    "train_data_loader": "train#dataloader",
    "val_data_loader": "validate#dataloader",
    "network": "network",
    "loss_function": "loss",
    "train_handlers": "train#handlers",
}
#: the same for an inference command (MONAI model zoo's inference.json ids)
INFERENCE_IDS: dict[str, str] = {
    "val_data_loader": "dataloader",
    "network": "network",
    "inferer": "inferer",
    "postprocessing": "postprocessing",
    "val_handlers": "handlers",
}

T = TypeVar("T", bound=type)


def _named_parameters(cls: type) -> tuple[set[str], bool]:
    """Argument names ``cls.__init__`` accepts, following ``**kwargs`` up the class hierarchy, and whether
    arbitrary keywords are accepted in the end."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        parameters = inspect.signature(vars(klass)["__init__"]).parameters
        names.update(n for n, p in parameters.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            return names, False
    return names, True


def takes_run_settings(cls: T) -> T:
    """Give ``cls.__init__`` a ``run`` argument that fills the settings above which it accepts and were not given."""
    init = cls.__init__
    names, open_kwargs = _named_parameters(cls)
    accepted = [name for name in RUN_SETTINGS if name in names or open_kwargs]
    wired = {name: config_id for name, config_id in RUN_IDS.items() if name in names}
    wired_inference = {name: config_id for name, config_id in INFERENCE_IDS.items() if name in names}

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, run: Any = None, **kwargs: Any) -> None:
        if run is not None:
            for name in accepted:
                if name not in kwargs:
                    kwargs[name] = RUN_SETTINGS[name](run)
            inference = getattr(run, "command", None) == "inference"
            for name, config_id in (wired_inference if inference else wired).items():
                if name not in kwargs and config_id in run.parser:
                    kwargs[name] = run.parser.get_parsed_content(config_id)
        init(self, *args, **kwargs)

    cls.__init__ = __init__  # type: ignore[method-assign]
    return cls
