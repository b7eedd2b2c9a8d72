"""What a trained model is: its network (target and arguments) and its input contract, carried by every checkpoint.

Training records the ids a bundle lists under ``contract`` (the network definition; orientation, spacing, slice
axis and rotation, size, normalisation and statistics, bands, HU window, residual and scenario settings...) with
their resolved values, in every checkpoint it writes and in ``config/contract.json``. Evaluation and inference
load them from the checkpoint they use (``"trained": "$monai_pipelines.bundle.RunContract.load(@ckpt_path)"``);
RunContext then sets every id they fix to its trained value before anything is resolved, so the configs use them
plainly (``"pixdim": "@spacing"``) and can never disagree with what the network was trained on, and an override
that contradicts the trained model is refused. Export builds the trained network with ``$@trained.network()``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from monai.bundle import ConfigParser
from monai.bundle.utils import ID_SEP_KEY

from monai_pipelines.handlers.training_checkpoint import CONTRACT_KEY, load_checkpoint, read_checkpoint
from monai_pipelines.utils.errors import InputError

__all__ = ["NETWORK_ID", "TRAINED_ID", "RunContract", "reference_expression"]

NETWORK_ID = "network_def"
TRAINED_ID = "trained"  # the id of evaluate.json / inference.json that loads the contract
_ARG_IDS = "_ids_"  # network argument -> the top-level id it came from (plain "@id" arguments)

logger = logging.getLogger(__name__)


def reference_expression(key: str) -> str:
    """The config value that takes ``key`` from the trained run: ``$@trained['key']``."""
    return f"$@trained['{key}']"


def _jsonable(value: Any, where: str) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, where) for v in value]
    if isinstance(value, torch.Tensor) and value.numel() <= 4096:
        return _jsonable(value.tolist(), where)
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy arrays and scalars
        return _jsonable(value.tolist(), where)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(f"contract entry {where} is a {type(value).__name__}; a run contract holds plain values only.")


def _same(a: Any, b: Any) -> bool:
    return json.dumps(_jsonable(a, "a"), sort_keys=True) == json.dumps(_jsonable(b, "b"), sort_keys=True)


class RunContract(Mapping):
    """The trained model's network definition and input contract: a read-only mapping id -> value.

    Args:
        values: id -> plain value; ``network_def`` holds ``{"_target_": ..., args..., "_ids_": {arg: id}}``.
        source: where it was read from (named in errors).
    """

    def __init__(self, values: Mapping[str, Any], source: str | os.PathLike | None = None) -> None:
        self._values = dict(values)
        self.source = None if source is None else str(source)

    # ------------------------------------------------------------------ mapping
    def __getitem__(self, key: str) -> Any:
        if key not in self._values:
            raise InputError(f"{self.source or 'the run contract'} records no {key!r} (it holds "
                             f"{sorted(self._values)}): was this model trained by this bundle?")
        return self._values[key]

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(self._values))

    # ------------------------------------------------------------------ recording
    @classmethod
    def record(cls, parser: ConfigParser, ids: Sequence[str]) -> RunContract:
        """Resolve ``ids`` of a training config; the network definition is kept as target + resolved arguments."""
        values: dict[str, Any] = {}
        for key in ids:
            raw = parser.get(key)
            if isinstance(raw, Mapping) and "_target_" in raw:
                values[key] = cls._record_component(parser, key, raw)
            else:
                values[key] = _jsonable(parser.get_parsed_content(key), key)
        return cls(values)

    @staticmethod
    def _record_component(parser: ConfigParser, key: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {"_target_": raw["_target_"]}
        arg_ids: dict[str, str] = {}
        for arg, value in raw.items():
            if arg.startswith("_"):
                continue
            record[arg] = _jsonable(parser.get_parsed_content(f"{key}#{arg}"), f"{key}.{arg}")
            if isinstance(value, str) and value.startswith("@") and "#" not in value[1:]:
                arg_ids[arg] = value[1:]
        record[_ARG_IDS] = arg_ids
        return record

    def save(self, path: str | os.PathLike) -> Path:
        from monai_pipelines.utils.atomic_write import write_json_atomic

        return write_json_atomic(path, self.to_dict())

    # ------------------------------------------------------------------ reading
    @classmethod
    def load(cls, path: str | os.PathLike) -> RunContract:
        """The contract stored in a checkpoint (or a ``contract.json``)."""
        path = Path(path)
        if path.suffix == ".json":
            if not path.is_file():
                raise FileNotFoundError(f"run contract {path} does not exist.")
            return cls(json.loads(path.read_text()), path)
        payload = read_checkpoint(path)
        if CONTRACT_KEY not in payload:
            raise InputError(f"checkpoint {path} carries no run contract (network and input settings): it was not "
                             "written by this project's training, so the settings it needs are unknown.")
        return cls(payload[CONTRACT_KEY], path)

    def component(self, key: str = NETWORK_ID) -> Any:
        """Instantiate a recorded component (the network by default) with its recorded arguments."""
        record = {k: v for k, v in dict(self[key]).items() if k != _ARG_IDS}
        return ConfigParser({"component": record}).get_parsed_content("component")

    def network(self, key: str = NETWORK_ID, weights: bool = True, entry: str = "network") -> torch.nn.Module:
        """The trained network: built from the contract, with the weights of ``entry`` of the source checkpoint."""
        network = self.component(key)
        if weights:
            if self.source is None or self.source.endswith(".json"):
                raise InputError(f"{self.source or 'this contract'} is not a checkpoint: no weights to load.")
            load_checkpoint(self.source, {entry: network})
        return network

    # ------------------------------------------------------------------ checking
    def values_by_id(self) -> dict[str, Any]:
        """Every top-level id the contract fixes: its own ids and the ids the network arguments came from."""
        flat = dict(self._values)
        for value in self._values.values():
            if isinstance(value, Mapping) and _ARG_IDS in value:
                for arg, id_ in value[_ARG_IDS].items():
                    flat.setdefault(id_, value[arg])
        return flat

    def plain_values_by_id(self) -> dict[str, Any]:
        """The ids the contract fixes to plain values (component records, such as the network, are built with
        :meth:`component` / :meth:`network` instead)."""
        return {k: v for k, v in self.values_by_id().items() if not (isinstance(v, Mapping) and _ARG_IDS in v)}

    def check_overrides(self, parser: ConfigParser, defaults: Mapping[str, Any]) -> None:
        """Refuse, in one line, a setting of this command that contradicts the trained model.

        A contract id counts as set by the user when its value is neither the reference to the trained run nor the
        value the bundle's train.json gives it (``defaults``); it must then equal the trained value.
        """
        for key, trained in self.values_by_id().items():
            if key not in parser.config:
                continue
            raw = parser.config[key]
            if raw == reference_expression(key) or (key in defaults and _same_text(raw, defaults[key])):
                continue
            given = raw if not isinstance(raw, (str, Mapping)) or not _is_expression(raw) else _resolve(parser, key)
            if isinstance(trained, Mapping) and _ARG_IDS in trained:
                continue  # a whole component given on the command line: its arguments are checked by id
            if not _same(given, trained):
                raise InputError(f"--{key} {json.dumps(_jsonable(given, key))} contradicts the trained model, which "
                                 f"was trained with {key} {json.dumps(trained)} ({self.source}); leave it out, or "
                                 "train a model with that setting.")


def _same_text(raw: Any, written: Any) -> bool:
    """Whether a config value is the one a file gives it (the parser writes ``#`` in references as ``::``)."""
    def text(value: Any) -> str:
        return json.dumps(value, sort_keys=True, default=str).replace(ID_SEP_KEY, "#")

    return text(raw) == text(written)


def _is_expression(raw: Any) -> bool:
    return isinstance(raw, str) and raw.startswith(("$", "@", "%"))


def _resolve(parser: ConfigParser, key: str) -> Any:
    try:
        return parser.get_parsed_content(key)
    except Exception:  # an expression that needs more of the run than exists yet: compare its text
        return parser.config[key]
