"""Whole-training-state checkpoints, written atomically and resumed automatically.

MONAI's CheckpointSaver/CheckpointLoader write in place (a kill mid-write leaves a corrupt newest file), load with
``weights_only=False``, keep no RNG states and need the resume path spelled out; this handler does all three.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Engine, Events
from monai.engines import Evaluator

from monai_pipelines.handlers.rng_state import RNGState
from monai_pipelines.utils.dist import is_main_process

__all__ = ["TrainingCheckpoint", "atomic_save", "latest_checkpoint", "load_checkpoint", "evaluated_this_epoch"]

#: ``engine.state`` attribute a time-budget stop sets: the run ended early, so no final model is written.
TIME_BUDGET_STOPPED = "time_budget_stopped"
_RNG_KEY = "rng_state"
_HANDLER_KEY = "training_checkpoint"
_TMP_SUFFIX = ".tmp"

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


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file next to ``path``, fsync, then rename: ``path`` is whole or untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{_TMP_SUFFIX}")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _atomic_copy(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}{_TMP_SUFFIX}")
    try:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, length=16 << 20)
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(dst.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _epoch_files(save_dir: Path, prefix: str, extension: str, snapshots: bool) -> list[tuple[int, Path]]:
    """``(epoch, path)`` of ``{prefix}_epoch{N}`` (and ``{prefix}_snapshot_epoch{N}``) files, newest first."""
    kinds = "(snapshot_)?" if snapshots else "()"
    pattern = re.compile(rf"^{re.escape(prefix)}_{kinds}epoch(\d+){re.escape(extension)}$")
    found = []
    if save_dir.is_dir():
        for p in save_dir.iterdir():
            m = pattern.match(p.name)
            if m and p.is_file():
                found.append((int(m.group(2)), 1 if m.group(1) else 0, p))
    found.sort(key=lambda t: (-t[0], t[1]))  # newest epoch first, a regular file before a snapshot of that epoch
    return [(epoch, p) for epoch, _, p in found]


def latest_checkpoint(save_dir: str | os.PathLike, prefix: str = "checkpoint", extension: str = ".pt") -> Path | None:
    """The newest ``{prefix}_epoch{N}{extension}`` (or snapshot) in ``save_dir`` by epoch number, or None."""
    files = _epoch_files(Path(save_dir), prefix, extension, snapshots=True)
    return files[0][1] if files else None


def _read(path: Path, map_location: Any) -> dict:
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, Mapping):
        raise ValueError(f"checkpoint {path} holds a {type(payload).__name__}, not a dict of states.")
    return dict(payload)


def evaluated_this_epoch(evaluator: Engine, trainer: Engine) -> bool:
    """Whether ``evaluator.state.metrics`` belong to the trainer's current epoch (a MONAI Evaluator numbers its
    run by the trainer's epoch; other engines are taken as fresh)."""
    return not isinstance(evaluator, Evaluator) or evaluator.state.epoch == trainer.state.epoch


def _state_of(obj: Any) -> Any:
    return _unwrap(obj).state_dict()


def load_checkpoint(
    path: str | os.PathLike, save_dict: Mapping[str, Any], strict: bool = True, map_location: Any = "cpu"
) -> dict:
    """Load the entries of ``save_dict`` (e.g. just ``{"network": net}``) from a checkpoint; returns the payload.

    A file holding a bare state dict (weights only) is loaded into ``save_dict``'s single object.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist.")
    try:
        payload = _read(path, map_location)
    except ValueError:
        raise
    except Exception as e:
        raise ValueError(f"checkpoint {path} cannot be read: {e}") from e
    if len(save_dict) == 1 and next(iter(save_dict)) not in payload and all(
        isinstance(v, torch.Tensor) for v in payload.values()
    ):
        payload = {next(iter(save_dict)): payload}
    for key, obj in save_dict.items():
        if key not in payload:
            if strict:
                raise ValueError(f"checkpoint {path} has no entry {key!r} (it holds {sorted(payload)}).")
            logger.warning("checkpoint %s has no entry %r: left as is", path, key)
            continue
        target = _unwrap(obj)
        try:
            if isinstance(target, torch.nn.Module):
                target.load_state_dict(payload[key], strict=strict)
            else:
                target.load_state_dict(payload[key])
        except (RuntimeError, KeyError, ValueError) as e:
            raise ValueError(f"checkpoint {path}: entry {key!r} does not fit: {e}") from e
    return payload


class TrainingCheckpoint:
    """Saves networks, optimizers, schedulers, engine, handlers and RNG states every epoch; resumes the newest.

    Files in ``save_dir``: ``{prefix}_epoch{N}{extension}`` (the newest ``n_saved`` kept),
    ``{prefix}_snapshot_epoch{N}{extension}`` every ``snapshot_every`` epochs (kept),
    ``{prefix}_{best_name}{extension}`` when ``key_metric`` improves, and ``{final_name}{extension}`` when training
    really completed (not when a time budget stopped it). Every write is atomic (temp file, fsync, rename).

    Its epoch-end work is registered when the run starts, i.e. after every handler attached at construction
    (validation, history, LR schedules), so a checkpoint holds the state after the whole epoch. Resuming happens
    in its STARTED handler: attach it before handlers that act at STARTED.

    Args:
        save_dict: name -> object with ``state_dict``/``load_state_dict``; the trainer is added as ``"trainer"``
            when absent (a bundle config should leave it out: ``@trainer`` from its own handler is circular).
            RNG states and this handler's own state are added automatically.
        key_metric: name in ``metric_engine.state.metrics`` (metric_engine defaults to the trainer; pass the
            evaluator, run by a ValidationHandler attached earlier); improvements write the best file.
        final_save_dict: what the final file holds (e.g. ``{"network": net}``); defaults to ``save_dict``.
        resume: load the newest readable checkpoint at start, falling back to older ones.
        rng_state: RNG capture (pass ``RNGState(transforms)`` to include transform generators).
    """

    def __init__(
        self,
        save_dir: str | os.PathLike,
        save_dict: Mapping[str, Any],
        prefix: str = "checkpoint",
        n_saved: int | None = 3,
        save_interval: int = 1,
        key_metric: str | None = None,
        key_metric_mode: str = "min",
        metric_engine: Engine | None = None,
        best_name: str = "best",
        snapshot_every: int | None = None,
        final_name: str | None = None,
        final_save_dict: Mapping[str, Any] | None = None,
        extension: str = ".pt",
        resume: bool = True,
        map_location: Any = None,
        rng_state: RNGState | None = None,
    ) -> None:
        if key_metric_mode not in ("min", "max"):
            raise ValueError(f"key_metric_mode must be 'min' or 'max', got {key_metric_mode!r}.")
        if save_interval < 1 or (snapshot_every is not None and snapshot_every < 1):
            raise ValueError("save_interval and snapshot_every must be positive integers.")
        reserved = {_RNG_KEY, _HANDLER_KEY}.intersection(save_dict)
        if reserved:
            raise ValueError(f"save_dict keys {sorted(reserved)} are reserved for the checkpoint handler.")
        self.save_dir = Path(save_dir)
        self.save_dict = dict(save_dict)
        self.final_save_dict = dict(final_save_dict) if final_save_dict is not None else None
        self.prefix = prefix
        self.n_saved = n_saved
        self.save_interval = save_interval
        self.key_metric = key_metric
        self.key_metric_mode = key_metric_mode
        self.metric_engine = metric_engine
        self.best_name = best_name
        self.snapshot_every = snapshot_every
        self.final_name = final_name
        self.extension = extension if extension.startswith(".") else f".{extension}"
        self.resume = resume
        self.map_location = "cpu" if map_location is None else map_location
        self.rng_state = RNGState() if rng_state is None else rng_state
        self.best_score: float | None = None
        self.best_epoch = -1
        self.resumed_from: Path | None = None
        self._engine: Engine | None = None
        self._registered = False
        self._scored_epoch = -1
        self._improved_epoch = -1
        self._saved_epoch = -1
        self._snapshot_epoch = -1
        self._warned_metric = False

    # ------------------------------------------------------------------ paths
    def epoch_path(self, epoch: int, snapshot: bool = False) -> Path:
        kind = "snapshot_" if snapshot else ""
        return self.save_dir / f"{self.prefix}_{kind}epoch{epoch}{self.extension}"

    @property
    def best_path(self) -> Path:
        return self.save_dir / f"{self.prefix}_{self.best_name}{self.extension}"

    @property
    def final_path(self) -> Path | None:
        return None if self.final_name is None else self.save_dir / f"{self.final_name}{self.extension}"

    @classmethod
    def latest_checkpoint(
        cls, save_dir: str | os.PathLike, prefix: str = "checkpoint", extension: str = ".pt"
    ) -> Path | None:
        return latest_checkpoint(save_dir, prefix, extension)

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
            engine.add_event_handler(Events.EPOCH_COMPLETED, self._on_epoch_completed)
            engine.add_event_handler(Events.COMPLETED, self._on_completed)
            self._registered = True
        if self.resume:
            self._resume(engine)
        elif latest_checkpoint(self.save_dir, self.prefix, self.extension) is not None:
            logger.warning("resume=False: starting afresh although %s holds checkpoints", self.save_dir)

    def _on_epoch_completed(self, engine: Engine) -> None:
        self.save(engine, force=False)

    def _on_completed(self, engine: Engine) -> None:
        if getattr(engine.state, TIME_BUDGET_STOPPED, False):
            logger.info("run stopped by its time budget: no final model written")
            return
        epoch_length = engine.state.epoch_length
        whole_epoch = epoch_length is None or engine.state.iteration == engine.state.epoch * epoch_length
        if whole_epoch and engine.state.epoch > 0:
            self.save(engine, force=True)  # the last epoch is resumable even when off the save interval
        if self.final_path is not None and is_main_process():
            atomic_save(self._payload(self.final_save_dict or self.save_dict, full=False), self.final_path)
            logger.info("final model written to %s", self.final_path)

    # ------------------------------------------------------------------ saving
    def save(self, engine: Engine, force: bool = True) -> Path | None:
        """This epoch's checkpoint (idempotent); ``force`` writes it even off the save interval (time budget)."""
        epoch = engine.state.epoch
        if self._scored_epoch != epoch:
            self._scored_epoch = epoch
            if self._update_best(engine):
                self._improved_epoch = epoch
        if not is_main_process():
            return None
        payload: dict | None = None
        written: Path | None = None
        if (force or epoch % self.save_interval == 0) and self._saved_epoch != epoch:
            payload = self._payload(self.save_dict, full=True)
            written = atomic_save(payload, self.epoch_path(epoch))
            self._saved_epoch = epoch
            self._prune(epoch)
        if self.snapshot_every and epoch % self.snapshot_every == 0 and self._snapshot_epoch != epoch:
            self._write_copy(written, payload, self.epoch_path(epoch, snapshot=True))
            self._snapshot_epoch = epoch
        if self._improved_epoch == epoch:
            self._write_copy(written, payload, self.best_path)
            self._improved_epoch = -1
            logger.info("%s improved to %.6g at epoch %d: wrote %s", self.key_metric, self.best_score, epoch,
                        self.best_path)
        return self.epoch_path(epoch) if self._saved_epoch == epoch else None

    def _write_copy(self, written: Path | None, payload: dict | None, dst: Path) -> None:
        if written is not None:
            _atomic_copy(written, dst)
        else:
            atomic_save(payload if payload is not None else self._payload(self.save_dict, full=True), dst)

    def _payload(self, save_dict: Mapping[str, Any], full: bool) -> dict:
        payload = {key: _state_of(obj) for key, obj in save_dict.items()}
        if full:
            payload[_RNG_KEY] = self.rng_state.state_dict()
            payload[_HANDLER_KEY] = self.state_dict()
        return payload

    def _update_best(self, engine: Engine) -> bool:
        if self.key_metric is None:
            return False
        source = self.metric_engine if self.metric_engine is not None else engine
        if source is not engine and not evaluated_this_epoch(source, engine):
            return False  # the evaluator did not run this epoch: its metrics are stale
        value = source.state.metrics.get(self.key_metric)
        if value is None:
            if source.state.metrics and not self._warned_metric:
                logger.warning("key metric %r not among %s: no best checkpoint", self.key_metric,
                               sorted(source.state.metrics))
                self._warned_metric = True
            return False
        value = float(value.item() if isinstance(value, torch.Tensor) else value)
        if value != value:  # NaN
            return False
        better = self.best_score is None or (
            value < self.best_score if self.key_metric_mode == "min" else value > self.best_score
        )
        if better:
            self.best_score, self.best_epoch = value, engine.state.epoch
        return better

    def _prune(self, current_epoch: int) -> None:
        if not self.n_saved or self.n_saved < 1:
            return
        # files from later epochs (another run's leftovers) neither count nor get deleted
        files = _epoch_files(self.save_dir, self.prefix, self.extension, snapshots=False)
        files = [(e, p) for e, p in files if e <= current_epoch]
        for _, p in files[self.n_saved :]:
            p.unlink(missing_ok=True)

    def _remove_stale_temp_files(self) -> None:
        if not self.save_dir.is_dir():
            return
        names = [self.prefix] + ([self.final_name] if self.final_name else [])
        for p in self.save_dir.glob(f".*{_TMP_SUFFIX}"):
            if any(p.name[1:].startswith(n) for n in names):
                logger.info("removing unfinished temporary file %s", p)
                p.unlink(missing_ok=True)

    # ------------------------------------------------------------------ resuming
    def _resume(self, engine: Engine) -> Path | None:
        for _, path in _epoch_files(self.save_dir, self.prefix, self.extension, snapshots=True):
            try:
                payload = _read(path, self.map_location)
                if _HANDLER_KEY not in payload:
                    raise ValueError("it is not a training checkpoint (no handler state)")
            except Exception as e:
                logger.warning("checkpoint %s cannot be resumed (%s): trying an older one", path, e)
                if is_main_process():  # set it aside so it is neither resumed nor counted as the newest again
                    os.replace(path, path.with_name(path.name + ".corrupt"))
                continue
            self._restore(engine, payload, path)
            return path
        return None

    def _restore(self, engine: Engine, payload: dict, path: Path) -> None:
        max_epochs, epoch_length = engine.state.max_epochs, engine.state.epoch_length
        for key, obj in self.save_dict.items():
            if key not in payload:
                logger.warning("checkpoint %s has no entry %r: it starts afresh", path, key)
                continue
            try:
                if obj is engine:
                    engine.load_state_dict(payload[key])
                elif isinstance(_unwrap(obj), torch.nn.Module):
                    _unwrap(obj).load_state_dict(payload[key], strict=True)
                else:
                    _unwrap(obj).load_state_dict(payload[key])
            except (RuntimeError, KeyError, ValueError) as e:
                raise ValueError(f"checkpoint {path}: entry {key!r} does not fit the current setup: {e}") from e
        epoch = engine.state.epoch
        engine.state.max_epochs = max_epochs  # the command line decides how long to train
        if epoch_length is not None and engine.state.epoch_length != epoch_length:
            engine.state.epoch_length = epoch_length
        if engine.state.epoch_length is not None:
            engine.state.iteration = epoch * engine.state.epoch_length
        self.load_state_dict(payload[_HANDLER_KEY])
        self.rng_state.load_state_dict(payload[_RNG_KEY])
        self._saved_epoch = epoch
        self.resumed_from = path
        logger.info("resumed from %s at epoch %d", path, epoch)
        if max_epochs is not None and epoch >= max_epochs:
            logger.info("checkpoint epoch %d >= max_epochs %d: nothing left to train", epoch, max_epochs)

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
        return {"best_score": self.best_score, "best_epoch": self.best_epoch, "key_metric": self.key_metric,
                "engine_best": best}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for name, engine in self._workflows().items():
            saved = (state.get("engine_best") or {}).get(name)
            if saved is not None and saved["best_metric"] is not None:
                engine.state.best_metric = saved["best_metric"]
                engine.state.best_metric_epoch = saved["best_metric_epoch"]
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
