"""Stop training cleanly, with a checkpoint, before a wall-clock limit (a cluster job or a shared-machine slot).

Ignite's TimeLimit stops without a checkpoint and does not look ahead at the next epoch's duration.
"""

from __future__ import annotations

import datetime
import logging
import time

from ignite.engine import Engine, Events

from monai_pipelines.handlers.training_checkpoint import TIME_BUDGET_STOPPED, TrainingCheckpoint

__all__ = ["TimeBudget"]

logger = logging.getLogger(__name__)


def _hms(seconds: float) -> str:
    return str(datetime.timedelta(seconds=round(seconds)))


def _on_any_rank(flag: bool) -> bool:
    """True on every DDP rank if it is true on one: ranks stopping at different iterations would deadlock DDP."""
    from ignite import distributed as idist

    if idist.get_world_size() < 2:
        return flag
    return bool(idist.all_reduce(int(flag), op="MAX"))


class TimeBudget:
    """Ends the run after the epoch when another one would not fit into ``budget_seconds``; rerun to continue.

    At each epoch end: if elapsed + mean epoch time + ``margin_seconds`` exceeds the budget, this epoch's checkpoint
    is written (idempotent with ``checkpoint``'s own save) and the trainer terminates; ``engine.state`` gets
    ``time_budget_stopped = True`` so no final model is written. At each iteration: if the budget is already spent,
    it writes the latest checkpoint at this iteration and terminates at once. Ignite 0.5.5 still fires
    COMPLETED after ``terminate()``, so loggers close normally. The clock starts when this handler is created.
    Under DDP, attach it on every rank: each decision is all-reduced, so all ranks stop after the same iteration.

    Args:
        budget_seconds: wall-clock budget of this process; None or 0 disables the handler.
    """

    def __init__(
        self, budget_seconds: float | None, checkpoint: TrainingCheckpoint | None = None, margin_seconds: float = 60
    ) -> None:
        if budget_seconds is not None and budget_seconds < 0:
            raise ValueError(f"budget_seconds must be >= 0 or None, got {budget_seconds}.")
        self.budget = float(budget_seconds) if budget_seconds else None
        self.checkpoint = checkpoint
        self.margin = float(margin_seconds)
        self._clock = time.monotonic
        self.start = self._clock()
        self.epoch_times: list[float] = []
        self._mark: float | None = None
        self._registered = False

    def elapsed(self) -> float:
        return self._clock() - self.start

    def attach(self, engine: Engine) -> None:
        if self.budget is None:
            return
        if not engine.has_event_handler(self._on_started, Events.STARTED):
            engine.add_event_handler(Events.STARTED, self._on_started)

    def _on_started(self, engine: Engine) -> None:
        setattr(engine.state, TIME_BUDGET_STOPPED, False)
        self.epoch_times = []
        self._mark = self._clock()
        if not self._registered:  # after the checkpoint handler's epoch-end save when that was attached first
            engine.add_event_handler(Events.EPOCH_COMPLETED, self._on_epoch_completed)
            engine.add_event_handler(Events.ITERATION_COMPLETED, self._on_iteration_completed)
            self._registered = True

    def _on_epoch_completed(self, engine: Engine) -> None:
        now = self._clock()
        if self._mark is not None:
            self.epoch_times.append(now - self._mark)
        self._mark = now
        if engine.state.max_epochs is not None and engine.state.epoch >= engine.state.max_epochs:
            return
        mean_epoch = sum(self.epoch_times) / max(len(self.epoch_times), 1)
        if not _on_any_rank(self.elapsed() + mean_epoch + self.margin > self.budget):
            return
        if self.checkpoint is not None:
            self.checkpoint.save(engine)
        self._stop(
            engine,
            f"time budget {_hms(self.budget)} nearly spent after epoch {engine.state.epoch} "
            f"(elapsed {_hms(self.elapsed())}, epoch ~{mean_epoch:.1f}s): "
            f"{'checkpoint saved' if self.checkpoint is not None else 'no checkpoint handler'}, "
            "run the same command again to continue",
        )

    def _on_iteration_completed(self, engine: Engine) -> None:
        if engine.should_terminate:
            return
        if _on_any_rank(self.elapsed() > self.budget):
            if self.checkpoint is not None:
                self.checkpoint.save_iteration(engine)
            self._stop(
                engine,
                f"time budget {_hms(self.budget)} spent during epoch {engine.state.epoch}: stopping now at "
                f"iteration {engine.state.iteration}; the same command resumes from there",
            )

    @staticmethod
    def _stop(engine: Engine, message: str) -> None:
        logger.warning(message)
        setattr(engine.state, TIME_BUDGET_STOPPED, True)
        engine.terminate()
