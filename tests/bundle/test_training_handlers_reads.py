"""A training iteration's scalars are read from the device once, however many handlers log or check them.

On a GPU each read waits for the step to finish and copies the numbers back: the H200 profile of mri_to_ct's engine
showed 10 device-to-host copies and 7 waits per iteration where a plain loop has 2 and 3 (the divergence check,
console, TensorBoard and training history each read the loss; a GAN's history read each loss on its own).
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from ignite.engine import Events
from torch.overrides import TorchFunctionMode

from monai_pipelines.bundle.training_handlers import TrainingHandlers
from tests.bundles.runner import BUNDLES, run_bundle
from tests.bundles.test_bad_inputs import TINY_NETWORKS, _tiny_training

#: the tensor methods that hand a value to Python (on a GPU: a copy to the host and a wait for the GPU)
READS = {"item", "tolist", "numpy", "__float__", "__int__", "__bool__"}


class CountReads(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in READS:
            self.reads.append(name)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("bundle", BUNDLES)
def test_an_iteration_is_read_from_the_device_once(bundle, tmp_path, monkeypatch):
    per_iteration: list[list[str]] = []
    attach = TrainingHandlers.attach

    def counting_attach(self: TrainingHandlers, trainer: Any) -> None:
        """From the end of each training step to the end of its iteration's handlers, count the reads."""
        attach(self, trainer)
        step, mode = trainer._process_function, [None]

        def counted_step(engine: Any, batch: Any) -> Any:
            output = step(engine, batch)
            mode[0] = CountReads()
            mode[0].__enter__()
            return output

        def stop(engine: Any) -> None:
            mode[0].__exit__(None, None, None)
            per_iteration.append(mode[0].reads)

        trainer._process_function = counted_step
        # added when the run starts, after every handler the bundle attaches: the last of an iteration's handlers
        trainer.add_event_handler(Events.STARTED, lambda e: e.add_event_handler(Events.ITERATION_COMPLETED, stop))

    monkeypatch.setattr(TrainingHandlers, "attach", counting_attach)
    overrides = {**_tiny_training(bundle, tmp_path / "data"), **TINY_NETWORKS.get(bundle, {}), "progress": True,
                 "output_dir": str(tmp_path / "run")}
    run_bundle(bundle, "training", **overrides)
    assert per_iteration and all(reads == ["tolist"] for reads in per_iteration), per_iteration[:3]
    assert not torch.overrides._is_torch_function_mode_enabled()
