"""The run wiring every bundle command shares, in one component: ``"run_context"`` in each bundle's configs.

It gives the config being run the standard top-level ids it does not set (standard_ids.py: ``output_dir``,
``seed``, ``device``, ``fold``, ``data``, ``num_workers``, ``skip_corrupted``, ``amp``...) and reads them, so a
bundle's JSON holds only what is specific to its task. Per command it: parses
command-line booleans strictly, prints a user's error as one line, sets up DDP under torchrun, applies the
determinism policy, writes a log file, records (training) or enforces (evaluation, inference) the run contract,
snapshots the resolved config, prints a start line, and provides screened datalists, resumable data loaders and
networks placed on the device.
"""

from __future__ import annotations

import atexit
import copy
import dataclasses
import datetime
import gc
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from monai.bundle import ConfigParser
from monai.bundle.reference_resolver import ReferenceResolver
from monai.bundle.utils import ID_SEP_KEY
from torch.utils.data import Dataset, Sampler

from monai_pipelines.bundle.booleans import boolean_ids, parse_booleans
from monai_pipelines.bundle.numbers import parse_numbers
from monai_pipelines.bundle.run_contract import TRAINED_ID, RunContract
from monai_pipelines.bundle.standard_ids import STANDARD_BOOLEANS, missing_standard_ids, standard_ids
from monai_pipelines.bundle.workflow_context import active_config_dir, active_parser
from monai_pipelines.data.cache_budget import CacheBudget
from monai_pipelines.utils.dist import is_main_process
from monai_pipelines.utils.errors import InputError, install_error_hook, quiet_user_error_logs

__all__ = ["RunContext", "default_device"]

logger = logging.getLogger("monai_pipelines")

_NOT_SETTINGS = {
    "imports", "initialize", "run", "training", "evaluating", "inference", "finalize", "_meta_", "run_context",
}
_TRAINING_COMMANDS = ("training", "run")
_PLAIN_COMPONENTS = {"data"}  # components whose value is a plain record (the dataset location): a setting
# what get() answers for an id the config lacks (one the command's standard ids do not add): the standard defaults
_STANDARD_DEFAULTS: dict[str, Any] = {
    **{k: v for k, v in standard_ids("training").items() if not isinstance(v, (dict, str))}, "cudnn_benchmark": False}


def default_device() -> torch.device:
    """``cuda:LOCAL_RANK`` when CUDA is available (``cuda:0`` outside torchrun), else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def _plain(value: Any) -> Any:
    """``value`` as JSON data, or raise TypeError."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (torch.device, Path, torch.dtype)):
        return str(value)
    if isinstance(value, float) and value != value:
        return "nan"
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "tolist") and getattr(value, "size", 65) <= 64:
        return _plain(value.tolist())
    raise TypeError(type(value).__name__)


class RunContext:
    """One bundle command's run wiring (see the module docstring).

    Args:
        command: what the config runs: "training", "evaluating" or "inference" (evaluate.json overrides it).
        bundle: the bundle's name (for messages and the fallback bundle_root).
    """

    def __init__(self, command: str = "training", bundle: str | None = None) -> None:
        install_error_hook()
        parser = active_parser()
        if parser is None:
            raise RuntimeError("RunContext reads the config being run: create it from a MONAI bundle config.")
        self.parser: ConfigParser = parser
        self.command = str(command)
        self.bundle = bundle
        self.config_dir = active_config_dir()
        self.contract: RunContract | None = None
        self.used_items: dict[str, int] = {}  # items per split after screening, once the datalists are made
        self.skipped: list[str] = []  # unusable inputs skipped (skip_corrupted), reported again at the end
        self._screened: dict[str, list[dict]] = {}  # datalists already screened, by split, keys and checks
        self._cache_budget: CacheBudget | None = None  # memory for cached datasets (cache_rate auto), at first use
        self.started = False
        self._log_handler: logging.Handler | None = None
        self._add_standard_ids()
        self._parse_command_line_values()
        if not self.training and TRAINED_ID in self.parser.config:
            self._apply_contract()

    # ------------------------------------------------------------------ config access
    def get(self, key: str, default: Any = None) -> Any:
        """The resolved value of top-level id ``key``, or ``default`` when the config has no such id."""
        if key not in self.parser.config:
            return _STANDARD_DEFAULTS.get(key, default) if default is None else default
        return self.parser.get_parsed_content(key)

    def _bundle_configs(self) -> list[dict]:
        """The top-level content of every config file of this bundle (booleans and defaults are declared there)."""
        if self.config_dir is None or not self.config_dir.is_dir():
            return []
        configs = []
        for path in sorted(self.config_dir.glob("*.json")):
            if path.name == "metadata.json":
                continue
            try:
                content = ConfigParser.load_config_file(path)
            except Exception:  # noqa: BLE001 - a broken sibling config is not this command's problem
                continue
            if isinstance(content, dict):
                configs.append(content)
        return configs

    def train_defaults(self) -> dict[str, Any]:
        """Top-level values of the bundle's train.json, as written (what "not overridden" means)."""
        path = None if self.config_dir is None else self.config_dir / "train.json"
        if path is None or not path.is_file():
            return {}
        return dict(ConfigParser.load_config_file(path))

    def _add_standard_ids(self) -> None:
        """Give the config the standard ids it does not set (standard_ids.py), before anything is resolved."""
        missing = missing_standard_ids(self.command, self.parser.config)
        if missing:
            import monai_pipelines

            self.parser.globals.setdefault("monai_pipelines", monai_pipelines)  # what the defaults' expressions use
            for key, value in missing.items():
                self.parser[key] = value
            self.parser.parse(reset=False)

    def _parse_command_line_values(self) -> None:
        """Booleans and the standard counts read strictly (a wrong one is a one-line error naming the id)."""
        config = dict(self.parser.config)
        changed = {**parse_booleans(config, boolean_ids(self._bundle_configs()) | STANDARD_BOOLEANS),
                   **parse_numbers(config)}
        if changed:  # replace the values, then let the parser re-read its content (nothing is resolved yet)
            for key, value in changed.items():
                self.parser[key] = value
            self.parser.parse(reset=False)

    # ------------------------------------------------------------------ standard ids
    @property
    def output_dir(self) -> Path:
        return Path(self.get("output_dir"))

    @property
    def seed(self) -> int:
        return int(self.get("seed", 0))

    @property
    def device(self) -> torch.device:
        device = self.get("device")
        return default_device() if device is None else torch.device(device)

    @property
    def num_workers(self) -> int:
        """DataLoader workers: the setting, or when it is null the device's default (speed_defaults)."""
        workers = self.get("num_workers")
        if workers is None:
            from monai_pipelines.bundle.speed_defaults import default_num_workers

            return default_num_workers(self.device)
        return int(workers)

    @property
    def distributed(self) -> bool:
        flag = self.get("distributed")
        if flag is None:
            return int(os.environ.get("WORLD_SIZE", 1)) > 1
        return bool(flag)

    @property
    def rank(self) -> int:
        dist = torch.distributed
        return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0

    @property
    def world_size(self) -> int:
        dist = torch.distributed
        return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1

    @property
    def training(self) -> bool:
        return self.command in _TRAINING_COMMANDS

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> RunContext:
        """Everything a command does before its engine runs (idempotent)."""
        if self.started:
            return self
        self.started = True
        if "input_path" in self.parser.config and self.get("input_path") is None:
            raise InputError(f"{self.command} needs the images to read: pass --input_path FILE_OR_FOLDER.")
        if self.distributed:
            self._init_distributed()
        self._determinism()
        from monai_pipelines.bundle.speed_defaults import set_num_threads

        set_num_threads(self.device, self.num_workers)
        self._open_log()
        if is_main_process():
            from monai_pipelines.utils.atomic_write import remove_stale_temporaries

            for path in remove_stale_temporaries(self.output_dir):
                logger.info("removed %s, left half-written by a killed run", path)
        self._contract()
        self._snapshot()
        logger.info(self.start_line())
        return self

    def finish(self) -> None:
        """Close the log file; leave the process group together (a barrier first: a rank leaving early aborts)."""
        from monai_pipelines.bundle.tracking import finish_tracking

        finish_tracking(self)
        if self.skipped:
            logger.warning("%d unusable input(s) skipped (skip_corrupted): %s", len(self.skipped),
                           "; ".join(self.skipped))
        if self._log_handler is not None:
            logging.getLogger().removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()

    def _init_distributed(self) -> None:
        if "WORLD_SIZE" not in os.environ:
            raise InputError("distributed is true but this process was not started by torchrun (no WORLD_SIZE): "
                             "run `torchrun --nproc_per_node=N -m monai.bundle run ...`.")
        dist = torch.distributed
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
            atexit.register(_release_distributed)
        if torch.cuda.is_available():
            torch.cuda.set_device(self.device)

    def _determinism(self) -> None:
        from monai.utils import set_determinism

        set_determinism(seed=self.seed)
        if bool(self.get("cudnn_benchmark", False)):  # set_determinism turned it off: the config asks for speed
            torch.backends.cudnn.benchmark = True
            torch.backends.cudnn.deterministic = False
        tf32 = self.get("tf32")
        if tf32 is not None:  # TensorFloat-32 matmuls and convolutions on Ampere+ GPUs (no effect elsewhere)
            torch.backends.cuda.matmul.allow_tf32 = bool(tf32)
            torch.backends.cudnn.allow_tf32 = bool(tf32)

    def _open_log(self) -> None:
        if not is_main_process():
            return
        from monai_pipelines.handlers.classification_report_writer import file_log_handler

        stamp = datetime.datetime.now().strftime("%Y%m%d_%H%M%S")
        self._log_handler = file_log_handler(self.log_dir / f"{self.command}_{stamp}.log")
        logging.getLogger().addHandler(self._log_handler)
        quiet_user_error_logs()

    @property
    def log_dir(self) -> Path:
        return self.output_dir / "logs"

    def _apply_contract(self) -> None:
        """Evaluation and inference: refuse settings that contradict the trained run, then give every id the
        contract fixes its trained value, so the configs reference them plainly (``@hu_window#0``) and need not
        define them. Done before anything else is resolved (the parser re-reads its content, as for booleans)."""
        self.contract = self.get(TRAINED_ID)
        self.contract.check_overrides(self.parser, self.train_defaults())
        used = set(self.parser.config) | {
            ref.split(ID_SEP_KEY)[0] for ref in ReferenceResolver.find_refs_in_config(self.parser.get(), id="")}
        for key, value in self.contract.plain_values_by_id().items():
            if key in used:
                self.parser[key] = value
        self.parser.parse(reset=False)

    def _contract(self) -> None:
        if self.training:
            ids = self.get("contract") or []
            self.contract = RunContract.record(self.parser, ids)
            if is_main_process():
                self.contract.save(self.output_dir / "config" / "contract.json")

    # ------------------------------------------------------------------ provenance
    def settings(self) -> dict[str, Any]:
        """Every top-level setting of the command with its resolved value (components and code left out)."""
        out: dict[str, Any] = {}
        for key, raw in self.parser.config.items():
            if key in _NOT_SETTINGS or (isinstance(raw, Mapping) and "_target_" in raw and key not in _PLAIN_COMPONENTS):
                continue
            if isinstance(raw, list) and any(isinstance(v, Mapping) and "_target_" in v for v in raw):
                continue
            try:
                out[key] = _plain(self.parser.get_parsed_content(key))
            except TypeError:
                continue  # an object (network, loss, dataset): described by its component, not a setting
        return out

    def snapshot(self) -> None:
        """(Re)write the resolved settings of this command to ``config/`` (rank 0)."""
        self._snapshot()

    def _snapshot(self) -> None:
        from monai_pipelines.utils.run_config import save_run_config

        name = "config.json" if self.training else f"{self.command}.json"
        save_run_config(self.output_dir, {**self.settings(), **self.data_summary()}, name=name,
                        contract=None if self.contract is None else self.contract.to_dict())

    def data_summary(self) -> dict[str, Any]:
        """Subjects per split of the fold in use (from the manifest), when the command reads a dataset."""
        data = self.get("data") if "data" in self.parser.config else None
        if data is None:
            return {}
        from monai_pipelines.data.manifest import datalist

        summary = {}
        for split in ("training", "validation", "test"):
            if split in self.used_items:
                summary[f"{split}_subjects"] = self.used_items[split]
                continue
            try:
                summary[f"{split}_subjects"] = len({d.get("subject", i) for i, d in enumerate(
                    datalist(data.manifest, None, split, self.get("fold", 0)))})
            except InputError:
                raise
            except (ValueError, KeyError):
                summary[f"{split}_subjects"] = 0
        return summary

    def start_line(self) -> str:
        from monai_pipelines.engines.amp import amp_dtype, amp_enabled

        precision = "fp32"
        if amp_enabled(self.device, bool(self.get("amp", False)), self.get("amp_dtype")):
            dtype = amp_dtype(self.device, self.get("amp_dtype"))
            precision = "fp16 autocast with loss scaling" if dtype == torch.float16 else "bf16 autocast"
        dist = torch.distributed
        ranks = (f", {self.world_size} rank{'s' if self.world_size > 1 else ''} over {dist.get_backend()}"
                 if dist.is_available() and dist.is_initialized() else "")
        parts = [f"{self.command}{' ' + self.bundle if self.bundle else ''}: device {self.device} ({precision}"
                 f"{', channels_last' if self.get('channels_last', False) else ''}, {self.num_workers} loader "
                 f"workers, {torch.get_num_threads()} threads{ranks})"]
        if "data" in self.parser.config:
            data, counts = self.get("data"), self.data_summary()
            parts.append(f"data {data.dataset_dir} (manifest {data.manifest}; fold {self.get('fold', 0)}: "
                         f"{counts.get('training_subjects', 0)} training, {counts.get('validation_subjects', 0)} "
                         f"validation, {counts.get('test_subjects', 0)} test subjects)")
        elif "input_path" in self.parser.config:
            parts.append(f"input {self.get('input_path')}")
        if self.contract is not None and not self.training:
            parts.append(f"model {self.contract.source}")
        parts.append(f"output {self.output_dir}")
        if self.training:
            from monai_pipelines.handlers.training_checkpoint import describe_checkpoint, latest_checkpoint

            newest = latest_checkpoint(self.output_dir / "checkpoints")
            parts.append(f"resumes from {describe_checkpoint(newest)}" if newest else "starts afresh")
        return " | ".join(parts)

    # ------------------------------------------------------------------ data
    def datalist(self, split: str, keys: Sequence[str] | None = None, **check: Any) -> list[dict]:
        """The items of ``split`` for this fold, paths made absolute. With ``keys`` (the image entries) every image
        is read and checked first (``check``: see :func:`~monai_pipelines.data.screening.check_inputs`): a bad one
        ends the command in one line naming it and its subject, or with ``skip_corrupted`` is skipped, logged and
        counted again when the command ends."""
        from monai_pipelines.data.manifest import datalist
        from monai_pipelines.data.screening import check_inputs

        data = self.get("data")
        items = datalist(data.manifest, data.dataset_dir, split, self.get("fold", 0))
        if not items:
            raise InputError(f"{data.manifest}: the {split} split of fold {self.get('fold', 0)} is empty; this "
                             "command needs it (rebuild the manifest, or choose another fold).")
        screened = repr((str(split), list(keys or ()), sorted(check.items())))
        if keys and screened in self._screened:  # configs may ask twice (e.g. evaluation and validation)
            items = copy.deepcopy(self._screened[screened])
        elif keys:
            items, skipped = check_inputs(items, list(keys), bool(self.get("skip_corrupted", False)),
                                          allow_missing_keys=False, **check)
            self.skip([reason for _, reason in skipped])
            self._screened[screened] = copy.deepcopy(items)
        self.used_items[str(split)] = len({d.get("subject", i) for i, d in enumerate(items)})
        return items

    def inputs(self, items: Sequence[dict], keys: Sequence[str] = ("image",), spatial_dims: int | None = 3,
               **check: Any) -> list[dict]:
        """Inference inputs, all checked before anything is written (``check``: see
        :func:`~monai_pipelines.data.screening.check_inputs`): a bad file ends the command in one line, or with
        ``skip_corrupted`` is skipped, logged and counted again when the command ends."""
        from monai_pipelines.data.screening import check_inputs

        good, skipped = check_inputs(list(items), list(keys), bool(self.get("skip_corrupted", False)), spatial_dims,
                                     **check)
        self.skip([reason for _, reason in skipped])
        self.used_items["inputs"] = len(good)
        return good

    def skip(self, reasons: Sequence[str]) -> None:
        """Record inputs skipped as unusable (their reasons were logged where they were found)."""
        self.skipped.extend(reasons)

    def train_loader(self, dataset: Dataset, batch_size: int, sampler: Sampler | None = None,
                     drop_last: bool = False) -> torch.utils.data.DataLoader:
        """A DataLoader whose order and augmentation are functions of (seed, epoch, position): resumable exactly,
        the same with any ``num_workers``, sharded over DDP ranks."""
        from monai.data import DataLoader

        from monai_pipelines.data.epoch_seeded_sampler import EpochSeededSampler, ItemSeededDataset, ResumableSampler

        if sampler is None:
            sampler = ResumableSampler(len(dataset), shuffle=True, seed=self.seed, num_replicas=self.world_size,
                                       rank=self.rank)
        return DataLoader(ItemSeededDataset(dataset), batch_size=int(batch_size),
                          sampler=EpochSeededSampler(sampler, self.seed, self.rank), drop_last=bool(drop_last),
                          **self._loader_kwargs())

    def cached_dataset(self, data: Sequence[dict], transform: Any) -> Dataset:
        """MONAI's CacheDataset of ``data`` with caching workers (``num_workers``), its progress shown on a terminal;
        ``transform`` may be a list of transforms. ``cache_rate``: a fraction, or ``auto`` (when not set) for as many
        items as fit this run's share of the available memory (:mod:`~monai_pipelines.data.cache_budget`; the
        datasets built first come first), the rest read on every access."""
        from monai.data import CacheDataset
        from monai.transforms import Compose

        from monai_pipelines.data.cache_budget import cached_part, describe, item_nbytes, parse_cache_rate
        from monai_pipelines.utils import show_progress

        if not isinstance(transform, Compose):  # as CacheDataset would wrap it; cached_part reads a Compose
            transform = Compose(list(transform) if isinstance(transform, (list, tuple)) else [transform])
        rate = parse_cache_rate(self.get("cache_rate"))
        kwargs = {"num_workers": self.get("num_workers"), "progress": show_progress()}
        if rate is not None or not data:
            return CacheDataset(data, transform, cache_rate=1.0 if rate is None else rate, **kwargs)
        if self._cache_budget is None:
            self._cache_budget = CacheBudget.for_this_process()
        bytes_per_item = item_nbytes(cached_part(transform, data[0]))  # one item read twice: the size of all
        cached = self._cache_budget.take(len(data), bytes_per_item)
        if cached < len(data):
            logger.info(describe(cached, len(data), bytes_per_item))
        return CacheDataset(data, transform, cache_num=cached, cache_rate=1.0, **kwargs)

    def eval_loader(self, dataset: Dataset, batch_size: int = 1) -> torch.utils.data.DataLoader:
        """An ordered DataLoader, sharded over DDP ranks (uneven shards; metrics are gathered over ranks)."""
        from monai.data import DataLoader

        from monai_pipelines.data.epoch_seeded_sampler import ResumableSampler

        if len(dataset) < self.world_size:  # a rank with nothing would never reach the metrics' gather
            raise InputError(f"{len(dataset)} item(s) cannot be shared by {self.world_size} ranks: evaluate with at "
                             f"most {len(dataset)} processes.")
        sampler = ResumableSampler(len(dataset), shuffle=False, num_replicas=self.world_size, rank=self.rank,
                                   even_divisible=False)
        return DataLoader(dataset, batch_size=int(batch_size), sampler=sampler, **self._loader_kwargs())

    def _loader_kwargs(self) -> dict[str, Any]:
        workers = self.num_workers
        return {"num_workers": workers, "pin_memory": self.device.type == "cuda",
                "persistent_workers": workers > 0, "generator": torch.Generator().manual_seed(self.seed)}

    # ------------------------------------------------------------------ networks
    def network(self, network: torch.nn.Module, spatial_dims: int | None = None) -> torch.nn.Module:
        """``network`` ready for the engines: on the device, channels-last when asked, DDP under torchrun
        (training), compiled when asked. Checkpoints always hold the plain module."""
        from monai_pipelines.engines.amp import network_to_channels_last

        network = network.to(self.device)
        if spatial_dims and bool(self.get("channels_last", False)):
            network_to_channels_last(network, int(spatial_dims))
        if self.training and self.world_size > 1 and any(p.requires_grad for p in network.parameters()):
            network = torch.nn.parallel.DistributedDataParallel(
                network, device_ids=[self.device] if self.device.type == "cuda" else None)
        if bool(self.get("compile", False)):
            network = torch.compile(network)
        return network

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, engine: Any) -> Any:
        """Run an evaluator (evaluation or inference) with the standard handlers: metric logging on rank 0."""
        from monai.handlers import StatsHandler

        from monai_pipelines.bundle.tracking import track_evaluation
        from monai_pipelines.handlers import EngineProgressBar

        if is_main_process():
            StatsHandler(iteration_log=False, name=None).attach(engine)
        EngineProgressBar(desc=self.command).attach(engine)
        track_evaluation(self, engine)
        quiet_user_error_logs()
        engine.run()
        return engine

    def output(self, *parts: str) -> str:
        """A path under the output folder (created), for writers that take a folder."""
        path = self.output_dir.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return str(path)


def _release_distributed() -> None:
    """At interpreter exit, while it is still whole: leave a process group a failed run did not leave, and free the
    objects that hold one (DDP modules and their gloo work, kept alive by reference cycles of the engines), so that
    none is destroyed during the interpreter's finalisation (a rank then aborted with "terminate called without an
    active exception" after its run had finished)."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    gc.collect()
