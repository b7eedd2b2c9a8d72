"""DRW: both weight rules against hand computation; switching at the right (1-based) epoch; state."""

from __future__ import annotations

import math

import pytest
import torch
from ignite.engine import Engine

from monai_pipelines.handlers.deferred_reweighting import DeferredReweighting, class_counts, drw_weights
from monai_pipelines.losses.ldam_loss import LDAMLoss


def test_sqrt_inverse_rule_hand_computed():
    assert torch.allclose(drw_weights([25, 75]), torch.tensor([math.sqrt(3.0), 1.0]))
    assert torch.allclose(drw_weights([10, 20, 70], "sqrt_inverse"), torch.tensor([math.sqrt(7), math.sqrt(3.5), 1.0]))


def test_effective_number_rule_hand_computed():
    # (1 - 0.9999) / (1 - 0.9999^n), normalised to sum to the class count
    assert torch.allclose(drw_weights([25, 75], "effective_number"), torch.tensor([1.49906265, 0.50093735]))
    three = drw_weights([10, 20, 70], "effective_number", beta=0.9999)
    assert torch.allclose(three, torch.tensor([1.82533258, 0.91312265, 0.26154477]))
    assert math.isclose(float(three.sum()), 3.0, rel_tol=1e-6)
    # beta -> 0 gives uniform weights
    assert torch.allclose(drw_weights([10, 70], "effective_number", beta=1e-9), torch.ones(2))


def test_switches_on_at_start_epoch_one_based():
    loss = LDAMLoss([25, 75])
    drw = DeferredReweighting(loss, [25, 75], start_epoch=3, rule="sqrt_inverse")
    seen = []
    engine = Engine(lambda e, b: seen.append((e.state.epoch, None if loss.weight is None else loss.weight.tolist())))
    drw.attach(engine)
    engine.run([0], max_epochs=4)
    on = pytest.approx([math.sqrt(3), 1.0])
    assert [w for _, w in seen] == [None, None, on, on]
    assert [e for e, _ in seen] == [1, 2, 3, 4]
    assert drw.state_dict()["active"] is True


def test_resume_and_plain_weight_attribute():
    ce = torch.nn.CrossEntropyLoss()
    drw = DeferredReweighting(ce, [10, 70], start_epoch=2, rule="effective_number")
    state = dict(drw.state_dict(), active=True)
    other = DeferredReweighting(ce, [10, 70], start_epoch=2, rule="effective_number")
    other.load_state_dict(state)
    assert other.active
    engine = Engine(lambda e, b: None)
    other.attach(engine)
    engine.run([0], max_epochs=1)  # epoch 1 < start: off again
    assert ce.weight is None and not other.active
    other.apply(5)
    assert torch.allclose(ce.weight, drw_weights([10, 70], "effective_number"))


def test_errors():
    with pytest.raises(ValueError, match="unknown DRW rule"):
        drw_weights([1, 2], "inverse")
    with pytest.raises(ValueError, match="1-based"):
        DeferredReweighting(torch.nn.CrossEntropyLoss(), [1, 2], start_epoch=0)


def test_class_counts_of_a_datalist():
    items = [{"label": 1}, {"label": "1"}, {"label": 0}, {"label": 1}]
    assert class_counts(items, 2) == [1, 3]
    assert class_counts(items[:1], 3) == [0, 1, 0]
    with pytest.raises(ValueError, match="s7: label 2"):
        class_counts([{"label": 2, "subject": "s7"}], 2)
