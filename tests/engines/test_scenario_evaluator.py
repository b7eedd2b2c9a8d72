"""ScenarioEvaluator: its val_handlers see the scores (a tracker logging state.metrics at the end of the epoch)."""

from __future__ import annotations

import torch
from ignite.engine import Events

from monai_pipelines.engines.scenario_evaluator import ScenarioEvaluator


class _MetricsAtEpochEnd:
    def __init__(self) -> None:
        self.seen: dict = {}

    def attach(self, engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED, lambda e: self.seen.update(e.state.metrics))


def test_val_handlers_see_the_scores_at_epoch_end():
    batches = [{"image": torch.rand(2, 3, 16, 16)}]
    tracker = _MetricsAtEpochEnd()
    evaluator = ScenarioEvaluator("cpu", batches, network=None, scenarios=["100", "011"], n_examples=0,
                                  val_handlers=[tracker])
    evaluator.run()
    assert {"val_psnr", "val_ssim", "val_psnr_100", "val_ssim_011"} <= set(tracker.seen)
