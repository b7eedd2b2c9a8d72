"""TensorBoardPanel: one validation sample per evaluator run, a row per key, read back from the event file."""

from __future__ import annotations

import numpy as np
import torch
from ignite.engine import Engine
from torch.utils.tensorboard import SummaryWriter

from monai_pipelines.handlers.tensorboard_panel import TensorBoardPanel, panel_image
from tests.bundles.runner import tensorboard_steps


def test_panel_rows_channels_slices_and_ranges():
    image = torch.zeros(2, 4, 6, 5)  # (C, H, W, D): the middle slice along D is shown
    image[1, ..., 2] = 10.0
    label = torch.full((1, 4, 6, 5), 2.0)
    logits = torch.zeros(3, 4, 6, 5)
    logits[1] = 1.0  # argmax: class 1 everywhere
    item = {"image": image, "label": label, "pred": logits, "class": torch.tensor(1)}
    with_class = panel_image([item], ["image", "class", "label", "pred"], argmax_keys=["pred"],
                             same_range=["label", "pred"], gap=1)
    panel = panel_image([item], ["image", "label", "pred"], argmax_keys=["pred"], same_range=["label", "pred"], gap=1)
    assert panel.shape == (3 * 4 + 2, 2 * 6 + 1) and np.array_equal(with_class, panel)  # a class is no image row
    assert panel[:4, 7:].min() == 1.0  # channel 1's middle slice is its maximum
    assert np.allclose(panel[5:9, :6], 1.0) and np.allclose(panel[10:14, :6], 0.0)  # label 2 vs class 1 on 1..2
    assert np.allclose(panel[5:9, 7:], 1.0)  # a single-channel row leaves its second column blank (white)


def test_batched_output_and_nested_keys():
    batch = {"image": torch.rand(2, 3, 8, 8), "pred": {"100": torch.rand(2, 3, 8, 8)}}
    panel = panel_image(batch, ["image", "pred#100"], index=1, gap=0)
    assert panel.shape == (16, 24)
    row = batch["pred"]["100"][1].numpy()  # one grey scale per key: the range of all its channels
    assert np.allclose(panel[8:, 16:], (row[2] - row.min()) / (row.max() - row.min()), atol=1e-6)


def test_written_once_per_evaluator_run_at_its_epoch(tmp_path):
    writer = SummaryWriter(str(tmp_path))
    evaluator = Engine(lambda e, b: [{"image": torch.rand(1, 8, 8)}])
    TensorBoardPanel(writer, keys=["image"], tag="validation/panel").attach(evaluator)
    for epoch in (1, 2, 3):  # as MONAI's Evaluator.run(global_epoch): state.epoch becomes the trainer's epoch
        evaluator.state.epoch, evaluator.state.iteration = epoch - 1, 0
        evaluator.run(range(3), max_epochs=epoch)
    writer.close()
    assert tensorboard_steps(tmp_path)["validation/panel"] == [1, 2, 3]
