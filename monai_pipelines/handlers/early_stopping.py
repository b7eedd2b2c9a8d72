"""Early stopping on validation scores compared lexicographically (e.g. AUC, then F1 to break ties), never too early.

MONAI's ``EarlyStopHandler`` wraps Ignite's ``EarlyStopping``, which scores with one number and has no minimum number
of epochs; this one compares tuples of metrics and only stops from ``min_epochs`` on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from ignite.engine import Engine, Events

__all__ = ["EarlyStopping"]

logger = logging.getLogger("monai_pipelines")


class EarlyStopping:
    """Stops ``trainer`` after ``patience`` validations without improvement, but not before epoch ``min_epochs``.

    A score improves when its first metric rises by more than ``min_delta``, or when the first metric ties (within
    ``min_delta``) and the next one rises by more than ``min_delta``, and so on. It reads ``evaluator.state.metrics``
    when the evaluator completes: give ``evaluator`` and list it among the trainer's handlers (``attach(trainer)``),
    or give ``trainer`` and attach it to the evaluator. ``best_score`` / ``best_epoch`` tell the best so far;
    ``evaluator.state.metrics[selection_name]`` counts improvements, so a checkpoint handler with
    ``key_metric=selection_name, key_metric_mode="max"`` saves exactly this handler's best.

    Args:
        trainer: the engine to stop (None: the engine it is attached to, when ``evaluator`` is given).
        patience: validations without improvement before stopping.
        min_epochs: the first (1-based) trainer epoch at which stopping is allowed.
        score_names: metric names, most important first.
    """

    def __init__(
        self,
        trainer: Engine | None = None,
        patience: int = 7,
        min_epochs: int = 10,
        score_names: Sequence[str] = ("val_auc", "val_f1"),
        min_delta: float = 0.0,
        evaluator: Engine | None = None,
        selection_name: str = "val_selection",
    ) -> None:
        if patience < 1 or min_epochs < 0 or min_delta < 0 or not score_names:
            raise ValueError(
                f"need patience >= 1, min_epochs >= 0, min_delta >= 0 and score names; got {patience}, {min_epochs}, "
                f"{min_delta}, {list(score_names)}."
            )
        self.trainer = trainer
        self.evaluator = evaluator
        self.patience = patience
        self.min_epochs = min_epochs
        self.score_names = tuple(score_names)
        self.min_delta = min_delta
        self.selection_name = selection_name
        self.best_score: tuple[float, ...] | None = None
        self.best_epoch = 0
        self.counter = 0
        self.improvements = 0
        self.stopped_epoch = 0
        if trainer is not None and evaluator is not None:
            self.attach(evaluator)

    def attach(self, engine: Engine) -> None:
        """Attach to the trainer (the ``evaluator`` given is watched) or to the evaluator (``trainer`` given)."""
        if self.evaluator is not None and engine is not self.evaluator:
            self.trainer, engine = engine, self.evaluator
        if self.trainer is None:
            raise ValueError("EarlyStopping needs the trainer to stop: give trainer=, or evaluator= and attach it to "
                             "the trainer.")
        if not engine.has_event_handler(self.completed, Events.COMPLETED):
            engine.add_event_handler(Events.COMPLETED, self.completed)

    def completed(self, engine: Engine) -> None:
        """Score the validation that just completed (a bound method, so checkpoints find this handler's state)."""
        self(engine)

    def is_better(self, score: Sequence[float], best: Sequence[float] | None) -> bool:
        """Lexicographic comparison with tolerance ``min_delta``."""
        if best is None:
            return True
        for value, reference in zip(score, best):
            if value > reference + self.min_delta:
                return True
            if value < reference - self.min_delta:
                return False
        return False

    def __call__(self, engine: Engine) -> None:
        score = tuple(self._metric(engine, name) for name in self.score_names)
        epoch = self.trainer.state.epoch
        if any(v != v for v in score):  # NaN counts as no improvement
            improved = False
        else:
            improved = self.is_better(score, self.best_score)
        if improved:
            self.best_score, self.best_epoch, self.counter = score, epoch, 0
            self.improvements += 1
        else:
            self.counter += 1
        engine.state.metrics[self.selection_name] = float(self.improvements)
        if self.counter >= self.patience and epoch >= self.min_epochs:
            logger.info(f"early stopping at epoch {epoch}: no improvement of {self.score_names} for {self.counter} "
                        f"validations (best {self.best_score} at epoch {self.best_epoch})")
            self.stopped_epoch = epoch
            self.trainer.terminate()

    @staticmethod
    def _metric(engine: Engine, name: str) -> float:
        if name not in engine.state.metrics:
            raise ValueError(f"early stopping needs metric {name!r}; the evaluator has {sorted(engine.state.metrics)}.")
        value = engine.state.metrics[name]
        return float(value.item() if isinstance(value, torch.Tensor) else value)

    def state_dict(self) -> dict[str, Any]:
        return {"best_score": None if self.best_score is None else list(self.best_score), "best_epoch": self.best_epoch,
                "counter": self.counter, "improvements": self.improvements, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        best = state.get("best_score")
        self.best_score = None if best is None else tuple(float(v) for v in best)
        self.best_epoch = int(state.get("best_epoch", 0))
        self.counter = int(state.get("counter", 0))
        self.improvements = int(state.get("improvements", 0))
        self.stopped_epoch = int(state.get("stopped_epoch", 0))
