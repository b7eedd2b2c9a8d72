"""Engines read the run's device and precision from the RunContext given as ``run``; explicit arguments win."""

from __future__ import annotations

import torch

from monai_pipelines.engines import SupervisedEvaluator, SupervisedTrainer
from monai_pipelines.engines.scenario_evaluator import ScenarioEvaluator


class _Run:
    device = torch.device("cpu")

    def __init__(self, **settings):
        self.settings = settings

    def get(self, key, default=None):
        return self.settings.get(key, default)


def test_run_fills_what_is_not_given_and_an_explicit_argument_wins():
    net = torch.nn.Linear(2, 2)
    run = _Run(amp=True, amp_dtype="bf16", channels_last=True)
    evaluator = SupervisedEvaluator(val_data_loader=[], network=net, run=run)
    assert evaluator.state.device == torch.device("cpu") and evaluator.amp and evaluator.amp_dtype == "bf16"
    assert evaluator.channels_last
    trainer = SupervisedTrainer(max_epochs=1, train_data_loader=[], network=net, loss_function=torch.nn.MSELoss(),
                                optimizer=torch.optim.SGD(net.parameters(), lr=0.1), amp=False, run=run)
    assert trainer.amp is False and trainer.channels_last  # amp given explicitly, the rest from the run


def test_an_engine_without_a_setting_takes_only_those_it_has():
    evaluator = ScenarioEvaluator(val_data_loader=[], network=torch.nn.Identity(), run=_Run(channels_last=True))
    assert evaluator.state.device == torch.device("cpu")
