"""Whole-training-state checkpoints in one scheme for every bundle, written atomically and resumed automatically.

MONAI's CheckpointSaver/CheckpointLoader write in place (a kill mid-write leaves a corrupt newest file), load with
``weights_only=False``, keep no RNG states and need the resume path spelled out; this handler does all three.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Engine, Events
from monai.engines import Evaluator

from monai_pipelines.handlers.rng_state import RNGState
from monai_pipelines.utils.atomic_write import atomic_copy, atomic_save, is_temporary
from monai_pipelines.utils.dist import is_main_process
from monai_pipelines.utils.errors import InputError

__all__ = [
    "CONTRACT_KEY",
    "TrainingCheckpoint",
    "atomic_save",
    "evaluated_this_epoch",
    "latest_checkpoint",
    "load_checkpoint",
    "read_checkpoint",
    "training_completed",
]

#: ``engine.state`` attribute a time-budget stop sets: the run ended early, so no final model is written.
TIME_BUDGET_STOPPED = "time_budget_stopped"
#: payload entry holding the run contract (network definition and input contract), in every file written here.
CONTRACT_KEY = "contract"
_RNG_KEY = "rng_state"
_HANDLER_KEY = "training_checkpoint"
_GRADIENTS_KEY = "gradients"  # gradients summed so far in an unfinished accumulation cycle (within-epoch saves)
_RESERVED = {_RNG_KEY, _HANDLER_KEY, CONTRACT_KEY, _GRADIENTS_KEY}
_CHECKPOINT_SUFFIXES = (".pt", ".pth")
_CORRUPT = ".corrupt"

logger = logging.getLogger(__name__)


def _unwrap(obj: Any) -> Any:
    """The plain module inside DataParallel/DDP/torch.compile wrappers, so keys never carry their prefixes."""
    while True:
        if isinstance(obj, (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)):
            obj = obj.module
        elif isinstance(obj, torch.nn.Module) and hasattr(obj, "_orig_mod"):
            obj = obj._orig_mod
        else:
            return obj


def read_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict:
    """A checkpoint's payload, read with ``weights_only=True`` (a pickle that runs code is refused in one line)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist.")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        reason = " ".join(str(e).split())[:300]
        raise InputError(f"checkpoint {path} cannot be read as weights only (not a checkpoint, damaged, or a "
                         f"pickle that would run code): {reason}") from e
    if not isinstance(payload, Mapping):
        raise InputError(f"checkpoint {path} holds a {type(payload).__name__}, not a dict of states.")
    return dict(payload)


def _position(payload: Mapping) -> tuple[int, int] | None:
    """(epoch, iteration) of a full training checkpoint; None for any other file."""
    state = payload.get(_HANDLER_KEY)
    if not isinstance(state, Mapping) or "iteration" not in state:
        return None
    return int(state.get("epoch", 0)), int(state["iteration"])


def _candidates(save_dir: Path) -> list[Path]:
    if not save_dir.is_dir():
        return []
    return sorted(p for p in save_dir.iterdir()
                  if p.is_file() and p.suffix in _CHECKPOINT_SUFFIXES and not is_temporary(p))


def _newest(save_dir: Path, map_location: Any = "cpu", quarantine: bool = False) -> tuple[Path, dict] | None:
    """The newest readable full training checkpoint in ``save_dir`` by its recorded iteration (whatever its name),
    with its payload; unreadable files are logged (and, with ``quarantine``, renamed ``*.corrupt``)."""
    found = []
    for path in _candidates(save_dir):
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            continue  # removed meanwhile (an interim file superseded by an epoch-end save of a running training)
        except Exception as e:
            logger.warning("checkpoint %s cannot be read (%s): ignored", path, " ".join(str(e).split())[:200])
            if quarantine and is_main_process():
                os.replace(path, path.with_name(path.name + _CORRUPT))
            continue
        position = _position(payload) if isinstance(payload, Mapping) else None
        if position is not None:  # same iteration (a best or snapshot copy): prefer the rolling latest file
            found.append((position[1], path.name.startswith(("checkpoint_latest", "last", "latest")) or
                          "latest" in path.name, mtime, path))
    if not found:
        return None
    *_, path = max(found)
    return path, read_checkpoint(path, map_location)


def latest_checkpoint(save_dir: str | os.PathLike) -> Path | None:
    """The checkpoint a rerun of the same command resumes from (newest full training checkpoint), or None."""
    newest = _newest(Path(save_dir))
    return None if newest is None else newest[0]


def checkpoint_position(path: str | os.PathLike) -> tuple[int, int] | None:
    """(epoch, iteration) a full training checkpoint was written at; None for an unreadable or other file."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - unreadable: not a position
        return None
    return _position(payload) if isinstance(payload, Mapping) else None


def training_completed(save_dir: str | os.PathLike) -> bool | None:
    """Whether the newest full training checkpoint in ``save_dir`` is that of a training that ran to its end
    (all epochs or early stopping; not a kill or a time budget); None when there is no checkpoint."""
    newest = _newest(Path(save_dir))
    if newest is None:
        return None
    return bool((newest[1].get(_HANDLER_KEY) or {}).get("completed", False))


def describe_checkpoint(path: str | os.PathLike) -> str:
    """``<path> (epoch E, iteration I)`` of a full training checkpoint."""
    payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    position = _position(payload) or (0, 0)
    return f"{path} (epoch {position[0]}, iteration {position[1]})"


def evaluated_this_epoch(evaluator: Engine, trainer: Engine) -> bool:
    """Whether ``evaluator.state.metrics`` belong to the trainer's current epoch (a MONAI Evaluator numbers its
    run by the trainer's epoch; other engines are taken as fresh)."""
    return not isinstance(evaluator, Evaluator) or evaluator.state.epoch == trainer.state.epoch


def _load_into(obj: Any, state: Any, strict: bool = True) -> None:
    target = _unwrap(obj)
    if isinstance(target, torch.nn.Module):
        target.load_state_dict(state, strict=strict)
    else:
        target.load_state_dict(state)


def load_checkpoint(
    path: str | os.PathLike, save_dict: Mapping[str, Any], strict: bool = True, map_location: Any = "cpu"
) -> dict:
    """Load the entries of ``save_dict`` (e.g. just ``{"network": net}``) from a checkpoint; returns the payload.

    A file holding a bare state dict (weights only) is loaded into ``save_dict``'s single object.
    """
    payload = read_checkpoint(path, map_location)
    if len(save_dict) == 1 and next(iter(save_dict)) not in payload and all(
        isinstance(v, torch.Tensor) for v in payload.values()
    ):
        payload = {next(iter(save_dict)): payload}
    for key, obj in save_dict.items():
        if key not in payload:
            if strict:
                raise InputError(f"checkpoint {path} has no entry {key!r} (it holds {sorted(payload)}).")
            logger.warning("checkpoint %s has no entry %r: left as is", path, key)
            continue
        try:
            _load_into(obj, payload[key], strict)
        except (RuntimeError, KeyError, ValueError) as e:
            raise InputError(f"checkpoint {path}: entry {key!r} does not fit: {' '.join(str(e).split())[:300]}") from e
    return payload


class TrainingCheckpoint:
    """Saves networks, optimizers, schedulers, engine, handlers, RNG states and the run contract; resumes the newest.

    Files in ``save_dir`` (names are settings, so each bundle keeps the names its source document uses):

    - ``latest``: the rolling full-state checkpoint, rewritten after every epoch and, with ``every_n_iterations``,
      every N iterations within an epoch;
    - ``interim``: when set, the saves within an epoch (``every_n_iterations``, a time budget stopping mid-epoch) go
      to this file instead, so ``latest`` is always the state at the end of the last completed epoch (glioma's
      ``last.pt``); it is removed once a later epoch-end save supersedes it;
    - ``snapshot`` (a pattern with ``{epoch}``): a full-state copy every ``snapshot_every`` epochs, the newest
      ``keep_snapshots`` kept (None: all);
    - ``best``: a full-state copy whenever ``key_metric`` improves;
    - ``best_by``: more such copies, one per metric (e.g. ``{"val_ssim": ["best_ssim.pth", "max"]}``);
    - ``final``: ``final_save_dict`` (default: the networks) when training really completed (not when a time budget
      stopped it).

    Every write is atomic (temporary file, fsync, rename). A run resumes from the newest readable full-state file
    in ``save_dir`` by the iteration recorded inside it, whatever its name; an unreadable one is set aside as
    ``*.corrupt`` and the next newest is tried. Its epoch-end work is registered when the run starts, i.e. after
    every handler attached at construction (validation, history, LR schedules), so a checkpoint holds the state
    after the whole epoch. Resuming happens in its STARTED handler: attach it before handlers that act at STARTED.

    Args:
        save_dict: name -> object with ``state_dict``/``load_state_dict``; the trainer is added as ``"trainer"``.
            RNG states, this handler's state and the contract are added automatically.
        key_metric: name in ``metric_engine.state.metrics`` (metric_engine defaults to the trainer).
        best_by: metric name -> (file name, "min" | "max") of further best copies, ranked like ``key_metric``.
        contract: the run contract (JSON-able mapping) stored in every file, so a checkpoint describes its model.
        rng_state: RNG capture (default: Python, NumPy and torch global generators).
    """

    def __init__(
        self,
        save_dir: str | os.PathLike,
        save_dict: Mapping[str, Any],
        latest: str = "checkpoint_latest.pt",
        snapshot: str = "checkpoint_epoch{epoch}.pt",
        snapshot_every: int | None = None,
        keep_snapshots: int | None = None,
        best: str | None = "checkpoint_best.pt",
        final: str | None = "final_model.pt",
        interim: str | None = None,
        final_save_dict: Mapping[str, Any] | None = None,
        key_metric: str | None = None,
        key_metric_mode: str = "min",
        best_by: Mapping[str, Sequence[str]] | None = None,
        metric_engine: Engine | None = None,
        every_n_iterations: int | None = None,
        contract: Mapping[str, Any] | None = None,
        resume: bool = True,
        map_location: Any = None,
        rng_state: RNGState | None = None,
    ) -> None:
        if key_metric_mode not in ("min", "max"):
            raise ValueError(f"key_metric_mode must be 'min' or 'max', got {key_metric_mode!r}.")
        self.best_by = {str(metric): (str(spec[0]), str(spec[1])) for metric, spec in (best_by or {}).items()}
        for metric, (_, mode) in self.best_by.items():
            if mode not in ("min", "max"):
                raise ValueError(f"best_by[{metric!r}]: mode must be 'min' or 'max', got {mode!r}.")
        # metric -> (best score, its epoch) of the best_by copies
        self.best_by_scores: dict[str, tuple[float | None, int]] = dict.fromkeys(self.best_by, (None, -1))
        self._improved_by: list[str] = []
        for name, value in (("snapshot_every", snapshot_every), ("keep_snapshots", keep_snapshots),
                            ("every_n_iterations", every_n_iterations)):
            if value is not None and int(value) < 1:
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}.")
        if "{epoch" not in snapshot:
            raise ValueError(f"snapshot must contain '{{epoch}}', got {snapshot!r}.")
        reserved = _RESERVED.intersection(save_dict)
        if reserved:
            raise ValueError(f"save_dict keys {sorted(reserved)} are reserved for the checkpoint handler.")
        self.save_dir = Path(save_dir)
        self.save_dict = dict(save_dict)
        self.final_save_dict = dict(final_save_dict) if final_save_dict is not None else None
        self.latest, self.snapshot, self.best, self.final = latest, snapshot, best, final
        if interim is not None and interim in (latest, best, final):
            raise ValueError(f"interim {interim!r} must differ from the latest, best and final file names.")
        self.interim = interim
        self.snapshot_every = None if snapshot_every is None else int(snapshot_every)
        self.keep_snapshots = None if keep_snapshots is None else int(keep_snapshots)
        self.every_n_iterations = None if every_n_iterations is None else int(every_n_iterations)
        self.key_metric = key_metric
        self.key_metric_mode = key_metric_mode
        self.metric_engine = metric_engine
        self.contract = dict(contract) if contract is not None else None
        self.resume = resume
        self.map_location = "cpu" if map_location is None else map_location
        self.rng_state = RNGState() if rng_state is None else rng_state
        self.best_score: float | None = None
        self.best_epoch = -1
        self.resumed_from: Path | None = None
        self.completed = False
        self._engine: Engine | None = None
        self._registered = False
        self._scored_epoch = -1
        self._improved_epoch = -1
        self._saved_iteration = -1
        self._snapshot_epoch = -1
        self._warned_metric = False
        self._snapshot_pattern = re.compile(
            "^" + re.escape(snapshot).replace(re.escape("{epoch}"), r"(\d+)") + "$"
        )

    # ------------------------------------------------------------------ paths
    @property
    def latest_path(self) -> Path:
        return self.save_dir / self.latest

    def snapshot_path(self, epoch: int) -> Path:
        return self.save_dir / self.snapshot.format(epoch=epoch)

    @property
    def interim_path(self) -> Path | None:
        return None if self.interim is None else self.save_dir / self.interim

    @property
    def best_path(self) -> Path | None:
        return None if self.best is None else self.save_dir / self.best

    @property
    def final_path(self) -> Path | None:
        return None if self.final is None else self.save_dir / self.final

    # ------------------------------------------------------------------ ignite
    def attach(self, engine: Engine) -> None:
        self._engine = engine
        if not any(obj is engine for obj in self.save_dict.values()):
            if "trainer" in self.save_dict:
                raise ValueError("save_dict has a 'trainer' entry that is not the engine this handler is attached to.")
            self.save_dict["trainer"] = engine
        if not engine.has_event_handler(self._on_started, Events.STARTED):
            engine.add_event_handler(Events.STARTED, self._on_started)

    def _on_started(self, engine: Engine) -> None:
        if is_main_process():
            self._remove_stale_temp_files()
        if not self._registered:  # after every handler attached at construction time
            engine.add_event_handler(Events.ITERATION_COMPLETED, self._on_iteration_completed)
            engine.add_event_handler(Events.EPOCH_COMPLETED, self._on_epoch_completed)
            engine.add_event_handler(Events.COMPLETED, self._on_completed)
            self._registered = True
        if self.resume:
            self._resume(engine)
        elif latest_checkpoint(self.save_dir) is not None:
            logger.warning("resume=False: starting afresh although %s holds checkpoints", self.save_dir)

    def _on_iteration_completed(self, engine: Engine) -> None:
        n, length = self.every_n_iterations, engine.state.epoch_length
        if n is None or engine.state.iteration % n:
            return
        if length is not None and engine.state.iteration % length == 0:
            return  # the epoch-end save writes this one, after validation
        if is_main_process():
            self._write_within_epoch()

    def _on_epoch_completed(self, engine: Engine) -> None:
        self.save(engine)

    def _on_completed(self, engine: Engine) -> None:
        if getattr(engine.state, TIME_BUDGET_STOPPED, False):
            logger.info("run stopped by its time budget: no final model written")
            return
        epoch_length = engine.state.epoch_length
        whole_epoch = epoch_length is None or engine.state.iteration == engine.state.epoch * epoch_length
        if not whole_epoch or engine.state.epoch == 0:
            return
        self.save(engine)
        self.completed = True
        if is_main_process():
            self._write_latest()  # the same state, marked as a training that ran to its end
        if self.final_path is not None and is_main_process():
            atomic_save(self._payload(self.final_save_dict or self._networks(), full=False), self.final_path)
            logger.info("final model written to %s", self.final_path)

    # ------------------------------------------------------------------ saving
    def save(self, engine: Engine) -> Path | None:
        """This epoch's files (idempotent): latest, and the snapshot and best copies when they are due."""
        epoch = engine.state.epoch
        if self._scored_epoch != epoch:
            self._scored_epoch = epoch
            if self._update_best(engine):
                self._improved_epoch = epoch
            self._improved_by = [metric for metric in self.best_by if self._update_best_by(engine, metric)]
        if not is_main_process():
            return None
        if self._saved_iteration != engine.state.iteration:
            self._write_latest()
        if self.snapshot_every and epoch % self.snapshot_every == 0 and self._snapshot_epoch != epoch:
            atomic_copy(self.latest_path, self.snapshot_path(epoch))
            self._snapshot_epoch = epoch
            self._prune_snapshots()
        if self._improved_epoch == epoch and self.best_path is not None:
            atomic_copy(self.latest_path, self.best_path)
            self._improved_epoch = -1
            logger.info("%s improved to %.6g at epoch %d: wrote %s", self.key_metric, self.best_score, epoch,
                        self.best_path)
        for metric in self._improved_by:
            path = self.save_dir / self.best_by[metric][0]
            atomic_copy(self.latest_path, path)
            logger.info("%s improved to %.6g at epoch %d: wrote %s", metric, self.best_by_scores[metric][0], epoch,
                        path)
        self._improved_by = []
        return self.latest_path

    def save_iteration(self, engine: Engine) -> Path | None:
        """The latest file at the current iteration, mid-epoch included (a time budget stopping inside an epoch)."""
        if is_main_process() and self._saved_iteration != engine.state.iteration:
            length = engine.state.epoch_length
            if length is not None and engine.state.iteration % length == 0:
                self._write_latest()
            else:
                self._write_within_epoch()
        return self.latest_path

    def _write_within_epoch(self) -> None:
        """A save inside an epoch: to ``interim`` when set, else the rolling latest file."""
        if self.interim_path is None:
            self._write_latest(within_epoch=True)
            return
        atomic_save(self._payload(self.save_dict, full=True, within_epoch=True), self.interim_path)
        self._saved_iteration = self._engine.state.iteration if self._engine is not None else -1

    def _write_latest(self, within_epoch: bool = False) -> None:
        atomic_save(self._payload(self.save_dict, full=True, within_epoch=within_epoch), self.latest_path)
        self._saved_iteration = self._engine.state.iteration if self._engine is not None else -1
        if self.interim_path is not None:
            self.interim_path.unlink(missing_ok=True)  # superseded by this epoch-end state

    def _networks(self) -> dict[str, Any]:
        return {k: v for k, v in self.save_dict.items() if isinstance(_unwrap(v), torch.nn.Module)}

    def _payload(self, save_dict: Mapping[str, Any], full: bool, within_epoch: bool = False) -> dict:
        payload = {key: _unwrap(obj).state_dict() for key, obj in save_dict.items()}
        if full:
            payload[_RNG_KEY] = self.rng_state.state_dict()
            payload[_HANDLER_KEY] = self.state_dict()
            gradients = self._accumulated_gradients() if within_epoch else None
            if gradients:
                payload[_GRADIENTS_KEY] = gradients
        if self.contract is not None:
            payload[CONTRACT_KEY] = self.contract
        return payload

    def _accumulated_gradients(self) -> dict[str, dict[str, torch.Tensor]]:
        """Per network, the gradients a trainer with ``accumulation_steps`` > 1 has summed but not yet stepped
        with (a save inside an epoch may fall inside an accumulation cycle; a resume must continue that sum)."""
        if self._engine is None or int(getattr(self._engine, "accumulation_steps", 1) or 1) <= 1:
            return {}
        found = {}
        for key, network in self._networks().items():
            grads = {n: p.grad.detach() for n, p in _unwrap(network).named_parameters() if p.grad is not None}
            if grads:
                found[key] = grads
        return found

    def _metric_value(self, engine: Engine, metric: str) -> float | None:
        """This epoch's ``metric``, or None when it was not computed this epoch (or is NaN)."""
        source = self.metric_engine if self.metric_engine is not None else engine
        if source is not engine and not evaluated_this_epoch(source, engine):
            return None  # the evaluator did not run this epoch: its metrics are stale
        value = source.state.metrics.get(metric)
        if value is None:
            if source.state.metrics and not self._warned_metric:
                logger.warning("key metric %r not among %s: no best checkpoint", metric, sorted(source.state.metrics))
                self._warned_metric = True
            return None
        value = float(value.item() if isinstance(value, torch.Tensor) else value)
        return None if value != value else value  # NaN

    @staticmethod
    def _better(value: float, best: float | None, mode: str) -> bool:
        return best is None or (value < best if mode == "min" else value > best)

    def _update_best(self, engine: Engine) -> bool:
        value = None if self.key_metric is None else self._metric_value(engine, self.key_metric)
        if value is None or not self._better(value, self.best_score, self.key_metric_mode):
            return False
        self.best_score, self.best_epoch = value, engine.state.epoch
        return True

    def _update_best_by(self, engine: Engine, metric: str) -> bool:
        value = self._metric_value(engine, metric)
        if value is None or not self._better(value, self.best_by_scores[metric][0], self.best_by[metric][1]):
            return False
        self.best_by_scores[metric] = (value, engine.state.epoch)
        return True

    def _prune_snapshots(self) -> None:
        if self.keep_snapshots is None:
            return
        snapshots = []
        for path in _candidates(self.save_dir):
            match = self._snapshot_pattern.match(path.name)
            if match and int(match.group(1)) <= self._snapshot_epoch:  # later ones are another run's leftovers
                snapshots.append((int(match.group(1)), path))
        for _, path in sorted(snapshots, reverse=True)[self.keep_snapshots:]:
            path.unlink(missing_ok=True)

    def _remove_stale_temp_files(self) -> None:
        if not self.save_dir.is_dir():
            return
        for path in self.save_dir.iterdir():
            if is_temporary(path):
                logger.info("removing unfinished temporary file %s", path)
                path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ resuming
    def _resume(self, engine: Engine) -> Path | None:
        newest = _newest(self.save_dir, self.map_location, quarantine=True)
        if newest is None:
            return None
        path, payload = newest
        self._restore(engine, payload, path)
        return path

    def _restore(self, engine: Engine, payload: dict, path: Path) -> None:
        max_epochs, epoch_length = engine.state.max_epochs, engine.state.epoch_length
        for key, obj in self.save_dict.items():
            if key not in payload:
                logger.warning("checkpoint %s has no entry %r: it starts afresh", path, key)
                continue
            try:
                if obj is engine:
                    engine.load_state_dict(payload[key])
                else:
                    _load_into(obj, payload[key])
            except (RuntimeError, KeyError, ValueError) as e:
                raise InputError(f"checkpoint {path}: entry {key!r} does not fit the current setup (resume with the "
                                 f"settings it was trained with, or use another output_dir): "
                                 f"{' '.join(str(e).split())[:300]}") from e
        for key, grads in (payload.get(_GRADIENTS_KEY) or {}).items():  # an accumulation cycle in progress
            parameters = dict(_unwrap(self.save_dict[key]).named_parameters()) if key in self.save_dict else {}
            for name, grad in grads.items():
                if name in parameters:
                    parameters[name].grad = grad.to(parameters[name].device, parameters[name].dtype)
        engine.state.max_epochs = max_epochs  # the command line decides how long to train
        if epoch_length is not None and engine.state.epoch_length != epoch_length:
            raise InputError(f"checkpoint {path} was written with {engine.state.epoch_length} iterations per epoch, "
                             f"this run has {epoch_length} (batch size or data changed): use another output_dir.")
        self.load_state_dict(payload[_HANDLER_KEY])
        self.rng_state.load_state_dict(payload[_RNG_KEY])
        self._saved_iteration = engine.state.iteration
        self._scored_epoch = engine.state.epoch
        self.resumed_from = path
        logger.info("resumed from %s at epoch %d, iteration %d", path, engine.state.epoch, engine.state.iteration)
        if max_epochs is not None and engine.state.epoch >= max_epochs:
            logger.info("checkpoint epoch %d >= max_epochs %d: nothing left to train", engine.state.epoch, max_epochs)

    # ------------------------------------------------------------------ state
    def _workflows(self) -> dict[str, Any]:
        """Engines whose MONAI ``best_metric``/``best_metric_epoch`` bookkeeping travels with the checkpoint."""
        found = {"trainer": self._engine, "metric_engine": self.metric_engine}
        return {k: e for k, e in found.items() if e is not None and hasattr(e.state, "best_metric_epoch")}

    def state_dict(self) -> dict[str, Any]:
        best = {
            name: {"best_metric": _number_or_none(e.state.best_metric),
                   "best_metric_epoch": int(e.state.best_metric_epoch)}
            for name, e in self._workflows().items()
        }
        state = self._engine.state if self._engine is not None else None
        return {"best_score": self.best_score, "best_epoch": self.best_epoch, "key_metric": self.key_metric,
                "best_by": {m: {"score": score, "epoch": ep} for m, (score, ep) in self.best_by_scores.items()},
                "engine_best": best, "epoch": int(state.epoch) if state else 0,
                "iteration": int(state.iteration) if state else 0, "completed": self.completed}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for name, engine in self._workflows().items():
            saved = (state.get("engine_best") or {}).get(name)
            if saved is not None and saved["best_metric"] is not None:
                engine.state.best_metric = saved["best_metric"]
                engine.state.best_metric_epoch = saved["best_metric_epoch"]
        saved_by = state.get("best_by") or {}
        for metric in self.best_by:  # a metric the checkpoint did not rank by starts afresh
            entry = saved_by.get(metric) or {}
            self.best_by_scores[metric] = (entry.get("score"), int(entry.get("epoch", -1)))
        if state.get("key_metric") != self.key_metric:
            logger.warning("checkpoint ranked by %r, now %r: best score reset", state.get("key_metric"),
                           self.key_metric)
            self.best_score, self.best_epoch = None, -1
            return
        self.best_score = state.get("best_score")
        self.best_epoch = int(state.get("best_epoch", -1))


def _number_or_none(value: Any) -> float | None:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    return float(value) if isinstance(value, (int, float)) else None
