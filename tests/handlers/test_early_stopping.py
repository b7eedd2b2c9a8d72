"""Early stopping: lexicographic (AUC, F1) scores, patience, minimum epochs, state."""

from __future__ import annotations

import pytest
from ignite.engine import Engine, Events

from monai_pipelines.handlers.early_stopping import EarlyStopping


def _run(scores, patience=2, min_epochs=1, max_epochs=None, min_delta=0.0):
    """Train with one validation per epoch whose metrics come from ``scores``; returns (epochs run, handler)."""
    trainer = Engine(lambda e, b: None)
    evaluator = Engine(lambda e, b: None)

    @evaluator.on(Events.STARTED)
    def _metrics(engine):
        auc, f1 = scores[trainer.state.epoch - 1]
        engine.state.metrics = {"val_auc": auc, "val_f1": f1}

    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda _: evaluator.run([0]))
    stopper = EarlyStopping(trainer, patience=patience, min_epochs=min_epochs, evaluator=evaluator, min_delta=min_delta)
    trainer.run([0], max_epochs=max_epochs or len(scores))
    return trainer.state.epoch, stopper, evaluator


def test_stops_after_patience_with_f1_tie_break():
    scores = [(0.6, 0.5), (0.7, 0.5), (0.7, 0.6), (0.7, 0.55), (0.65, 0.9), (0.9, 0.9)]
    epochs, stopper, evaluator = _run(scores, patience=2)
    # epoch 3 improves by F1 (AUC tied); 4 and 5 do not (lower F1, lower AUC) -> stop after epoch 5
    assert epochs == 5 and stopper.stopped_epoch == 5
    assert stopper.best_score == (0.7, 0.6) and stopper.best_epoch == 3
    assert evaluator.state.metrics["val_selection"] == 3.0  # improvements at epochs 1, 2, 3


def test_never_stops_before_min_epochs():
    scores = [(0.9, 0.9)] + [(0.5, 0.5)] * 11
    epochs, stopper, _ = _run(scores, patience=2, min_epochs=10)
    assert epochs == 10 and stopper.counter == 9 and stopper.best_epoch == 1


def test_min_delta_and_no_stop_when_improving():
    rising = [(0.5 + 0.01 * i, 0.5) for i in range(8)]
    assert _run(rising, patience=1)[0] == 8
    epochs, stopper, _ = _run(rising, patience=2, min_delta=0.025)  # +0.01, +0.02: ties, F1 constant
    assert epochs == 3 and stopper.best_epoch == 1


def test_state_dict_round_trip_and_missing_metric():
    _, stopper, _ = _run([(0.6, 0.5), (0.5, 0.5), (0.5, 0.5), (0.5, 0.4)], patience=10)
    other = EarlyStopping(Engine(lambda e, b: None))
    other.load_state_dict(stopper.state_dict())
    assert (other.best_score, other.best_epoch, other.counter) == ((0.6, 0.5), 1, 3)
    evaluator = Engine(lambda e, b: None)
    other.attach(evaluator)
    with pytest.raises(ValueError, match="val_auc"):
        evaluator.run([0])


def test_attached_to_the_trainer_watches_the_evaluator_and_is_found_as_state():
    """Listed among a trainer's handlers with ``evaluator=``: it stops that trainer, and its bound handler on the
    evaluator exposes its state (how TrainingHandlers finds what a checkpoint must hold)."""
    trainer, evaluator = Engine(lambda e, b: None), Engine(lambda e, b: None)

    @evaluator.on(Events.STARTED)
    def _metrics(engine):
        engine.state.metrics = {"val_auc": 0.5, "val_f1": 0.5}

    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda _: evaluator.run([0]))
    stopper = EarlyStopping(patience=2, min_epochs=1, evaluator=evaluator)
    stopper.attach(trainer)
    trainer.run([0], max_epochs=10)
    assert stopper.trainer is trainer and trainer.state.epoch == 3 and stopper.stopped_epoch == 3
    owners = [getattr(f, "__self__", None) for f, *_ in evaluator._event_handlers[Events.COMPLETED]]
    assert stopper in owners
    with pytest.raises(ValueError, match="needs the trainer"):
        EarlyStopping().attach(Engine(lambda e, b: None))
