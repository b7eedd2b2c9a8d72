"""Engines read the run's device and precision, and the standard ids they are wired to, from the RunContext given as
``run``; explicit arguments win."""

from __future__ import annotations

import torch
from monai.bundle import ConfigParser

from monai_pipelines.engines import SupervisedEvaluator, SupervisedTrainer
from monai_pipelines.engines.scenario_evaluator import ScenarioEvaluator


class _Run:
    device = torch.device("cpu")

    def __init__(self, config=None, **settings):
        self.settings = settings
        self.parser = ConfigParser(config or {})

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


def test_the_standard_ids_wire_what_an_engine_block_leaves_out():
    run = _Run({"epochs": 3, "network": {"_target_": "torch.nn.Linear", "in_features": 2, "out_features": 1},
                "loss": {"_target_": "torch.nn.L1Loss"}, "train": {"dataloader": [], "handlers": []},
                "validate": {"dataloader": ["batch"]}})
    net = run.parser.get_parsed_content("network")
    trainer = SupervisedTrainer(optimizer=torch.optim.SGD(net.parameters(), lr=0.1), run=run)
    assert trainer.state.max_epochs == 3 and trainer.network is net and isinstance(trainer.loss_function,
                                                                                   torch.nn.L1Loss)
    evaluator = SupervisedEvaluator(network=torch.nn.Identity(), run=run)
    assert evaluator.data_loader == ["batch"] and isinstance(evaluator.network, torch.nn.Identity)


def test_an_inference_command_wires_the_model_zoo_inference_ids():
    run = _Run({"dataloader": ["x"], "inferer": {"_target_": "SimpleInferer"},
                "postprocessing": {"_target_": "Identityd", "keys": "pred"}, "handlers": [],
                "validate": {"dataloader": ["not this"]}})
    run.command = "inference"
    evaluator = SupervisedEvaluator(network=torch.nn.Identity(), run=run)
    assert evaluator.data_loader == ["x"]
    assert evaluator.inferer is run.parser.get_parsed_content("inferer")


def test_an_evaluation_command_wires_the_evaluate_block_first_then_the_training_ids():
    run = _Run({"evaluate": {"dataloader": ["test"], "inferer": {"_target_": "SimpleInferer"}, "handlers": []},
                "validate": {"dataloader": ["validation"]}, "network": {"_target_": "torch.nn.Identity"}})
    run.command = "evaluating"
    evaluator = SupervisedEvaluator(run=run)
    assert evaluator.data_loader == ["test"] and evaluator.inferer is run.parser.get_parsed_content("evaluate#inferer")
    assert isinstance(evaluator.network, torch.nn.Identity)  # not in the evaluate block: the training id
    run.parser["evaluate"] = {}
    assert SupervisedEvaluator(run=run).data_loader == ["validation"]  # glacier evaluates its validate#evaluator
