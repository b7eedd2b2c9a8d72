"""Engines take the run's settings from the command's RunContext: ``"run": "@run_context"``.

Every bundle's trainers and evaluators would otherwise repeat in each engine block the run's ``device``, ``amp``,
``amp_dtype`` and ``channels_last``, and the standard ids they are wired to (``@epochs``, ``@network``, ``@loss``,
``@train#dataloader``, ``@train#handlers``, ``@validate#dataloader``; in evaluation, the ``evaluate#`` block's
``dataloader``, ``inferer``, ``postprocessing`` and ``handlers`` first; in inference, the model zoo's
``@dataloader``, ``@inferer``, ``@postprocessing`` and ``@handlers``). An argument given explicitly still wins; an
id the config does not have is not filled in.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["EVALUATE_IDS", "INFERENCE_IDS", "RUN_IDS", "RUN_SETTINGS", "takes_run_settings"]

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
#: ids an evaluation command wires first (evaluate.json's block), falling back on :data:`RUN_IDS`
EVALUATE_IDS: dict[str, str] = {
    "val_data_loader": "evaluate#dataloader",
    "inferer": "evaluate#inferer",
    "postprocessing": "evaluate#postprocessing",
    "val_handlers": "evaluate#handlers",
}
#: the same for an inference command (MONAI model zoo's inference.json ids)
INFERENCE_IDS: dict[str, str] = {
    "val_data_loader": "dataloader",
    "network": "network",
    "inferer": "inferer",
    "postprocessing": "postprocessing",
    "val_handlers": "handlers",
}

#: command -> the tables it wires from, first found wins
_WIRING: dict[str, tuple[dict[str, str], ...]] = {
    "training": (RUN_IDS,),
    "evaluating": (EVALUATE_IDS, RUN_IDS),
    "inference": (INFERENCE_IDS,),
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
    wired = {
        command: {name: ids for name in names if (ids := [table[name] for table in tables if name in table])}
        for command, tables in _WIRING.items()
    }

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, run: Any = None, **kwargs: Any) -> None:
        if run is not None:
            for name in accepted:
                if name not in kwargs:
                    kwargs[name] = RUN_SETTINGS[name](run)
            command = getattr(run, "command", None)
            for name, config_ids in wired.get(command, wired["training"]).items():
                config_id = next((i for i in config_ids if i in run.parser), None)
                if name not in kwargs and config_id is not None:
                    kwargs[name] = run.parser.get_parsed_content(config_id)
        init(self, *args, **kwargs)

    cls.__init__ = __init__  # type: ignore[method-assign]
    return cls
