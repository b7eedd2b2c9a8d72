"""--log_interval N: the console and TensorBoard record every N-th iteration's scalars, in every bundle (on a fast step
each record costs: about 0.7 ms per iteration on a CPU, 2-3 % of the GAN demos' steps)."""

from __future__ import annotations

import re

import pytest

from tests.bundles.runner import BUNDLES, run_bundle, tensorboard_steps
from tests.bundles.test_bad_inputs import TINY_NETWORKS, _tiny_training


@pytest.mark.parametrize("bundle", BUNDLES)
def test_iteration_scalars_every_nth_iteration(bundle, tmp_path, caplog):
    overrides = {**_tiny_training(bundle, tmp_path / "data"), **TINY_NETWORKS.get(bundle, {}), "epochs": 2,
                 "log_interval": 2, "output_dir": str(tmp_path / "run")}
    caplog.set_level("INFO")
    run_bundle(bundle, "training", **overrides)
    steps = tensorboard_steps(tmp_path / "run" / "logs")
    iteration_tags = [tag for tag in steps if "loss" in tag and not tag.startswith(("val", "train_"))]
    assert iteration_tags, steps
    for tag in iteration_tags:
        assert steps[tag] and all(step % 2 == 0 for step in steps[tag]), (tag, steps[tag])
    lines = [re.search(r"Epoch: (\d+)/\d+, Iter: (\d+)/(\d+)", r.getMessage()) for r in caplog.records]
    iterations = [(int(m[1]) - 1) * int(m[3]) + int(m[2]) for m in lines if m]  # the console counts per epoch
    assert iterations and all(i % 2 == 0 for i in iterations), iterations
