"""The accumulation of the metrics a trainer computes over an epoch (``key_train_metric``), as checkpoint state.

Ignite resets a metric when an epoch starts and only reads it when the epoch completes, so a run resumed from a
checkpoint written inside an epoch would report the training metric of that epoch's remaining iterations only.
This object saves each metric's accumulators (``_state_dict_all_req_keys``: e.g. the confusion matrix) and puts
them back right after the resumed epoch's reset. The state is the process's own (Ignite's ``Metric.state_dict``
gathers over DDP ranks, which a rank-0-only checkpoint write cannot do): under DDP each rank restores rank 0's
share, so a mid-epoch resumed epoch's training metric is exact in one process and approximate on several ranks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ignite.engine import Engine, Events
from ignite.metrics import Metric

__all__ = ["EpochMetricsState"]


class EpochMetricsState:
    """``state_dict``/``load_state_dict`` of the epoch-wise metrics attached to ``engine``, keyed by metric name."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._pending: dict[str, dict[str, Any]] = {}

    def metrics(self) -> dict[str, Metric]:
        """Attached metrics by name (the name Ignite passes to the metric's ``completed`` handler)."""
        found: dict[str, Metric] = {}
        for func, args, _ in self.engine._event_handlers.get(Events.EPOCH_COMPLETED, []):
            owner = getattr(func, "__self__", None)
            names = [a for a in args if isinstance(a, str)]  # Ignite stores (weakref to the engine, name)
            if isinstance(owner, Metric) and getattr(func, "__name__", "") == "completed" and names:
                found.setdefault(names[0], owner)
        return found

    def state_dict(self) -> dict[str, dict[str, Any]]:
        return {name: {key: getattr(metric, key) for key in getattr(metric, "_state_dict_all_req_keys", ())}
                for name, metric in self.metrics().items()}

    def load_state_dict(self, state: Mapping[str, Mapping[str, Any]]) -> None:
        """Keep ``state`` until the resumed epoch has started (its metrics reset then), and restore it there."""
        self._pending = {str(k): dict(v) for k, v in state.items()}
        if self._pending and not self.engine.has_event_handler(self._restore, Events.EPOCH_STARTED):
            self.engine.add_event_handler(Events.EPOCH_STARTED, self._restore)

    def _restore(self, engine: Engine) -> None:
        pending, self._pending = self._pending, {}  # once (removing a handler while its event fires skips others)
        length = engine.state.epoch_length
        if not pending or not length or engine.state.iteration % length == 0:
            return  # resumed at an epoch boundary: the epoch's accumulation starts empty anyway
        for name, metric in self.metrics().items():
            for key, value in pending.get(name, {}).items():
                setattr(metric, key, value)
