"""TrainingHandlers finds the state a checkpoint must hold among handlers registered as methods or as objects."""

from __future__ import annotations

from ignite.engine import Engine, Events

from monai_pipelines.bundle.training_handlers import _stateful_handlers


class _Stateful:
    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def __call__(self, engine: Engine) -> None:
        pass

    def method(self, engine: Engine) -> None:
        pass


def test_callable_objects_and_bound_methods_are_found_once():
    engine = Engine(lambda e, b: None)
    as_object, as_method = _Stateful(), _Stateful()
    engine.add_event_handler(Events.EPOCH_STARTED, as_object)  # e.g. LossWeightRamp registers itself
    engine.add_event_handler(Events.EPOCH_COMPLETED, as_method.method)
    engine.add_event_handler(Events.COMPLETED, as_method.method)
    engine.add_event_handler(Events.STARTED, lambda _: None)
    found = _stateful_handlers(engine)
    assert len(found) == 2 and any(f is as_object for f in found) and any(f is as_method for f in found)


def test_ignite_metrics_are_not_checkpoint_state():
    """A metric's state_dict all-gathers over DDP ranks: called by rank 0 alone (the checkpoint write) it hangs."""
    from ignite.metrics import Accuracy

    engine = Engine(lambda e, b: None)
    Accuracy().attach(engine, "accuracy")
    assert _stateful_handlers(engine) == []
