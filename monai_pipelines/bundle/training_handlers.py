"""The handlers every bundle's training attaches, as one Ignite handler: a bundle lists it among its train handlers.

Validation, LR schedules (ReduceLROnPlateau stepped on the key metric), logging on rank 0 (every loss term to the
console and TensorBoard, the learning rate of each optimizer, the validation metrics and a sample image panel each
validation epoch, all in one TensorBoard event file), progress bars on a terminal, the per-epoch history and
curves, resumable data order, the checkpoint scheme with the run contract, and the time budget. Each knows its rank role, so a multi-GPU config never picks handlers by position.
What the checkpoints hold is found on the trainer (networks, optimizers, GradScalers), in ``lr_schedulers``, on the
train loader's sampler and among the other handlers attached to the trainer and evaluator (anything with
``state_dict``/``load_state_dict``: DRW, curriculum, loss ramps, early stopping, reports...), so no bundle can
forget a piece of state.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from ignite.engine import Engine, Events
from ignite.metrics import Metric
from monai.handlers import LrScheduleHandler, StatsHandler, TensorBoardStatsHandler, ValidationHandler

from monai_pipelines.bundle.run_context import RunContext
from monai_pipelines.bundle.tracking import fit_mlflow_handler, mlflow_handlers
from monai_pipelines.data.epoch_seeded_sampler import EpochSeededSampler
from monai_pipelines.handlers.engine_progress_bar import EngineProgressBar
from monai_pipelines.handlers.epoch_metrics_state import EpochMetricsState
from monai_pipelines.handlers.finite_loss import FiniteLossGuard
from monai_pipelines.handlers.tensorboard_panel import TensorBoardPanel
from monai_pipelines.handlers.time_budget import TimeBudget
from monai_pipelines.handlers.training_checkpoint import TrainingCheckpoint
from monai_pipelines.handlers.training_history import TrainingHistory
from monai_pipelines.utils.device_scalars import IterationScalars
from monai_pipelines.utils.dist import is_main_process
from monai_pipelines.utils.errors import quiet_user_error_logs

__all__ = ["TrainingHandlers"]

logger = logging.getLogger(__name__)

# trainer attribute -> checkpoint entry (the names evaluation and export read back)
_TRAINER_STATE = {
    "network": "network", "generator": "network", "discriminator": "discriminator",
    "optimizer": "optimizer", "g_optimizer": "optimizer", "d_optimizer": "d_optimizer",
    "scaler": "scaler", "g_scaler": "scaler", "d_scaler": "d_scaler",
}
# trainer optimizer attribute -> TensorBoard tag of its learning rate
_LR_TAGS = {"optimizer": "lr", "g_optimizer": "g_lr", "d_optimizer": "d_lr"}


def _no_arguments(engine: Engine) -> tuple:
    return ()


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _stateful_handlers(engine: Engine) -> list[Any]:
    """Objects with state among ``engine``'s handlers: owners of bound methods and callable handler objects.

    Ignite metrics are left out: their state is one validation's accumulation (reset every run), and their
    ``state_dict`` all-gathers over DDP ranks, which would hang the rank-0-only checkpoint write.
    """
    found: list[Any] = []
    for handlers in engine._event_handlers.values():
        for func, *_ in handlers:
            owner = getattr(func, "__self__", None) or (None if inspect.isroutine(func) else func)
            if owner is not None and hasattr(owner, "state_dict") and hasattr(owner, "load_state_dict") \
                    and not isinstance(owner, (Engine, TrainingCheckpoint, TimeBudget, Metric)) \
                    and not any(owner is f for f in found):
                found.append(owner)
    return found


class TrainingHandlers:
    """The standard training handlers of a bundle (see the module docstring).

    Args:
        run: the command's RunContext (output folder, rank, time budget, checkpoint cadence).
        evaluator: the validation evaluator (run every ``val_interval`` epochs).
        lr_schedulers: stepped once per epoch, after validation.
        key_metric, key_metric_mode: what "best" means (an evaluator metric).
        checkpoint: TrainingCheckpoint file names and cadence (``latest``, ``snapshot``, ``snapshot_every``,
            ``keep_snapshots``, ``best``, ``final``).
        final_save_dict: what the final file holds (default: the networks).
        extra_state: more name -> stateful object for the checkpoints (e.g. a fitted normaliser).
        history_plot: also draw ``plots/training_curves.png``.
        panel: the evaluator output keys that form the TensorBoard image panel of each validation (a list), or
            :class:`TensorBoardPanel` arguments (``{"keys": [...], "argmax_keys": [...], "same_range": [...]}``).
    """

    def __init__(
        self,
        run: RunContext,
        evaluator: Engine | None = None,
        lr_schedulers: Sequence[Any] = (),
        key_metric: str | None = None,
        key_metric_mode: str = "min",
        checkpoint: Mapping[str, Any] | None = None,
        final_save_dict: Mapping[str, Any] | None = None,
        extra_state: Mapping[str, Any] | None = None,
        history_plot: bool = True,
        panel: Sequence[str] | Mapping[str, Any] | None = None,
    ) -> None:
        self.run = run
        self.evaluator = evaluator
        self.lr_schedulers = list(lr_schedulers) if lr_schedulers is not None else []
        self.key_metric = key_metric
        self.key_metric_mode = key_metric_mode
        self.checkpoint_args = dict(checkpoint or {})
        self.final_save_dict = final_save_dict
        self.extra_state = dict(extra_state or {})
        self.history_plot = history_plot
        self.panel = {"keys": list(panel)} if isinstance(panel, Sequence) and not isinstance(panel, str) \
            else dict(panel or {})
        self.summary_writer: Any = None
        self.history: TrainingHistory | None = None
        self.checkpoint: TrainingCheckpoint | None = None
        self.time_budget: TimeBudget | None = None
        self._scalars: IterationScalars | None = None

    # ------------------------------------------------------------------ attach
    def attach(self, trainer: Engine) -> None:
        run = self.run
        run.start()
        # first on ITERATION_COMPLETED: a diverged iteration stops the run before any handler saves or logs it
        FiniteLossGuard(self._scalar_keys(trainer), hint=self._divergence_hint(),
                        output_transform=self._scalar_transform(trainer)).attach(trainer)
        trainer.add_event_handler(Events.STARTED, self._on_started)  # before the checkpoint's resume
        trainer.add_event_handler(Events.EPOCH_STARTED, self._set_sampler_epoch)
        if self.evaluator is not None:
            ValidationHandler(validator=self.evaluator, interval=int(run.get("val_interval", 1)),
                              epoch_level=True).attach(trainer)
        for scheduler in self.lr_schedulers:
            step = self._plateau_metric if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) \
                else _no_arguments
            LrScheduleHandler(scheduler, print_lr=False, step_transform=step).attach(trainer)
        self._attach_logging(trainer)
        keys = self._scalar_keys(trainer)
        self.history = TrainingHistory(
            run.output_dir, evaluator=self.evaluator, history_name="metrics/history.json",
            plot_name="plots/training_curves.png" if self.history_plot else None,
            loss_output_transform=self._scalar_transform(trainer).of(keys[0]),
            output_keys={key: self._scalar_transform(trainer).of(key) for key in keys[1:]},
            optimizer=self._trainer_state(trainer).get("optimizer"))
        self.history.attach(trainer)
        save_dict = {**self._trainer_state(trainer), **self._scheduler_state(), "history": self.history,
                     **self.extra_state}
        self.checkpoint = TrainingCheckpoint(
            run.output_dir / "checkpoints", save_dict, key_metric=self.key_metric,
            key_metric_mode=self.key_metric_mode, metric_engine=self.evaluator,
            every_n_iterations=run.get("checkpoint_iterations"), final_save_dict=self.final_save_dict,
            contract=None if run.contract is None else run.contract.to_dict(), **self.checkpoint_args)
        self.checkpoint.attach(trainer)
        self.time_budget = TimeBudget(run.get("time_budget"), self.checkpoint)
        self.time_budget.attach(trainer)
        quiet_user_error_logs()

    # ------------------------------------------------------------------ state
    @staticmethod
    def _trainer_state(trainer: Engine) -> dict[str, Any]:
        state = {}
        for attribute, key in _TRAINER_STATE.items():
            obj = getattr(trainer, attribute, None)
            if obj is not None and key not in state and hasattr(obj, "state_dict"):
                state[key] = obj
        return state

    def _scheduler_state(self) -> dict[str, Any]:
        return {("lr_scheduler" if i == 0 else f"lr_scheduler{i}"): s for i, s in enumerate(self.lr_schedulers)}

    def _on_started(self, trainer: Engine) -> None:
        """Add what only exists now to the checkpoints: the GradScalers (made in ``run``), the sampler, and the
        stateful handlers attached to the trainer and the evaluator; give the history the optimizer whose learning
        rate it records when the trainer had none yet at attach time."""
        assert self.checkpoint is not None
        found = dict(self._trainer_state(trainer))
        sampler = getattr(getattr(trainer, "data_loader", None), "sampler", None)
        if sampler is not None and hasattr(sampler, "state_dict"):
            found["sampler"] = sampler
        train_metrics = EpochMetricsState(trainer)
        if train_metrics.metrics():  # a run resumed inside an epoch still reports the whole epoch
            found["train_metrics"] = train_metrics
        engines = [trainer] + ([self.evaluator] if self.evaluator is not None else [])
        known = list(self.checkpoint.save_dict.values()) + list(found.values())
        for engine in engines:
            for handler in _stateful_handlers(engine):
                if any(handler is obj for obj in known):
                    continue
                key = base = _snake(type(handler).__name__)
                n = 1
                while key in self.checkpoint.save_dict or key in found:
                    n, key = n + 1, f"{base}{n}"
                found[key] = handler
                known.append(handler)
        for key, obj in found.items():
            self.checkpoint.save_dict.setdefault(key, obj)
        if self.history is not None and self.history.optimizer is None:  # a GAN trainer sets its optimizers after
            self.history.optimizer = found.get("optimizer")  # MONAI's Workflow attached the handlers
        for tracker in mlflow_handlers(trainer):
            self._fit_mlflow(tracker, trainer)

    def _fit_mlflow(self, tracker: Any, trainer: Engine) -> None:
        """The MLFlowHandler ``--tracking mlflow`` appends to the train handlers logs every loss term per iteration
        (MONAI's ``from_engine(['loss'], first=True)`` gives a tuple for a dict output), the settings and the run's
        folders (see :mod:`monai_pipelines.bundle.tracking`)."""
        fit_mlflow_handler(tracker, self.run, self._scalar_transform(trainer))
        every = self._log_filter()
        if every is not True and trainer.has_event_handler(tracker.iteration_completed, Events.ITERATION_COMPLETED):
            trainer.remove_event_handler(tracker.iteration_completed, Events.ITERATION_COMPLETED)
            trainer.add_event_handler(Events.ITERATION_COMPLETED(event_filter=every), tracker.iteration_completed)

    def _set_sampler_epoch(self, trainer: Engine) -> None:
        """Order and augmentation of this epoch; a resumed epoch skips what it already trained on."""
        loader = getattr(trainer, "data_loader", None)
        sampler = getattr(loader, "sampler", None)
        if not isinstance(sampler, EpochSeededSampler):
            return
        length = trainer.state.epoch_length or 0
        done = trainer.state.iteration - (trainer.state.epoch - 1) * length if length else 0
        sampler.set_epoch(trainer.state.epoch - 1, start=max(done, 0) * int(loader.batch_size or 1))

    # ------------------------------------------------------------------ logging
    def _attach_logging(self, trainer: Engine) -> None:
        """Progress bars (a terminal), console and TensorBoard logging (rank 0): one SummaryWriter for everything."""
        scalars = self._scalar_transform(trainer)
        bar = EngineProgressBar(output_transform=scalars, desc="train")
        bar.attach(trainer)
        if self.evaluator is not None:
            EngineProgressBar(enabled=bar.enabled, desc="validate").attach(self.evaluator)
        if not is_main_process():
            return
        from torch.utils.tensorboard import SummaryWriter

        writer = self.summary_writer = SummaryWriter(log_dir=str(self.run.log_dir))
        # with a bar the losses show beside it; a log line per iteration would break it
        every = self._log_filter()
        StatsHandler(name=None, tag_name="train", output_transform=scalars, iteration_log=not bar.enabled and every,
                     epoch_log=False).attach(trainer)
        TensorBoardStatsHandler(summary_writer=writer, tag_name="train", output_transform=scalars,
                                iteration_log=every, epoch_log=False).attach(trainer)
        trainer.add_event_handler(Events.EPOCH_STARTED, self._log_learning_rates)
        trainer.add_event_handler(Events.COMPLETED, self._close_writer)
        if self.evaluator is not None:
            StatsHandler(name=None, iteration_log=False).attach(self.evaluator)
            TensorBoardStatsHandler(summary_writer=writer, iteration_log=False).attach(self.evaluator)
            if self.panel.get("keys"):
                TensorBoardPanel(writer, **self.panel).attach(self.evaluator)

    def _log_filter(self) -> Any:
        """The iterations whose scalars the console, TensorBoard and MLflow record: every ``log_interval``-th (True:
        all). On a fast step each record costs: about 0.7 ms per iteration for TensorBoard and the console on a CPU."""
        interval = int(self.run.get("log_interval", 1))
        return True if interval <= 1 else (lambda engine, iteration: iteration % interval == 0)

    def _log_learning_rates(self, trainer: Engine) -> None:
        """The learning rate each optimizer uses this epoch (one tag per optimizer, and per extra parameter group)."""
        for attribute, tag in _LR_TAGS.items():
            optimizer = getattr(trainer, attribute, None)
            if not isinstance(optimizer, torch.optim.Optimizer):
                continue
            for i, group in enumerate(optimizer.param_groups):
                self.summary_writer.add_scalar(tag if i == 0 else f"{tag}_group{i}", float(group["lr"]),
                                               trainer.state.epoch)

    def _close_writer(self, trainer: Engine) -> None:
        if self.summary_writer is not None:
            self.summary_writer.close()

    def _divergence_hint(self) -> str:
        from monai_pipelines.engines.amp import amp_dtype, amp_enabled

        run = self.run
        retry = "rerun with a lower --learning_rate"
        if amp_enabled(run.device, bool(run.get("amp", False)), run.get("amp_dtype")):
            dtype = "fp16" if amp_dtype(run.device, run.get("amp_dtype")) == torch.float16 else "bf16"
            retry = f"{dtype} autocast was on: rerun with --amp false, or with a lower --learning_rate"
        return f"{retry} (the rerun resumes from the newest checkpoint, written before this iteration)"

    @staticmethod
    def _scalar_keys(trainer: Engine) -> list[str]:
        return list(getattr(trainer, "output_scalars", ("loss",)))

    def _scalar_transform(self, trainer: Engine) -> IterationScalars:
        """Output -> the trainer's loss scalars, plus the terms of a loss that reports them (``last_components``,
        e.g. CombinedSegmentationLoss) as ``loss_<term>``: one read of the device per iteration, shared by every
        handler that logs or checks them (one transfer and one wait for the GPU, not one per handler or scalar)."""
        if self._scalars is None or self._scalars.engine is not trainer:

            def terms() -> dict[str, Any]:
                found = getattr(getattr(trainer, "loss_function", None), "last_components", None)  # set by a step
                return {f"loss_{name}": v for name, v in found.items()} if isinstance(found, Mapping) else {}

            self._scalars = IterationScalars(trainer, self._scalar_keys(trainer), terms)
        return self._scalars

    def _plateau_metric(self, engine: Engine) -> float:
        metrics = self.evaluator.state.metrics if self.evaluator is not None else engine.state.metrics
        value = metrics.get(self.key_metric) if self.key_metric else None
        if value is None:
            raise ValueError(f"ReduceLROnPlateau needs the key metric {self.key_metric!r} among {sorted(metrics)}.")
        return float(value)
