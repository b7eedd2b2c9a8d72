"""TrainingImageWriter: images every display_freq training images in TensorBoard and in web/index.html."""

from __future__ import annotations

import numpy as np
import torch
from ignite.engine import Engine
from PIL import Image
from torch.utils.data import DataLoader

from monai_pipelines.handlers import TrainingImageWriter, image_row


def test_image_row_maps_the_value_range_and_puts_channels_side_by_side():
    x = torch.stack([torch.full((2, 3), -1.0), torch.full((2, 3), 1.0)])  # (C=2, H=2, W=3)
    row = image_row(x)
    assert row.dtype == np.uint8 and row.shape == (3, 4)  # quarter turn: (W, C * H)
    assert (row[:, :2] == 0).all() and (row[:, 2:] == 255).all()


def test_displays_every_display_freq_images_on_the_page_and_in_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def step(engine, batch):
        value = torch.full((4, 1, 8, 8), 0.1 * engine.state.iteration)
        return {"condition": value, "pred": -value, "target": value}

    engine = Engine(step)
    loader = DataLoader(list(range(12)), batch_size=4)
    engine.data_loader = loader
    web, logs = tmp_path / "web", tmp_path / "logs"
    writer = TrainingImageWriter(web, {"real_A": "condition", "fake_B": "pred", "real_B": "target"}, display_freq=8,
                                 log_dir=logs, value_range=(-1.0, 1.0))
    writer.attach(engine)
    engine.run(loader, max_epochs=2)  # 6 iterations of 4 images: displays at 8, 16 and 24 images
    names = sorted(p.name for p in (web / "images").iterdir())
    assert names == sorted(f"epoch{e:03d}_iter{n}_{k}.png" for e, n in ((1, 8), (2, 16), (2, 24))
                           for k in ("real_A", "fake_B", "real_B"))
    page = (web / "index.html").read_text()
    assert page.index("24 images seen") < page.index("16 images seen") < page.index("8 images seen")  # newest first
    shown = np.asarray(Image.open(web / "images" / "epoch001_iter8_real_A.png"))
    assert shown.shape == (8, 8) and (shown == round((0.2 + 1) / 2 * 255)).all()  # iteration 2: 0.2 -> grey
    events = EventAccumulator(str(logs), size_guidance={"images": 0})
    events.Reload()
    assert sorted(events.Tags()["images"]) == ["train/fake_B", "train/real_A", "train/real_B"]
    assert [e.step for e in events.Images("train/fake_B")] == [2, 4, 6]
    assert writer.state_dict()["rows"][0]["images_seen"] == 24


def test_default_window_is_fitted_to_each_display(tmp_path):
    def step(engine, batch):
        ramp = torch.linspace(-0.6, -0.4, 64).reshape(1, 1, 8, 8)  # a narrow band of a wide window
        return {"pred": ramp.expand(4, 1, 8, 8)}

    engine = Engine(step)
    engine.data_loader = DataLoader(list(range(4)), batch_size=4)
    TrainingImageWriter(tmp_path, {"fake_B": "pred"}, display_freq=4).attach(engine)
    engine.run(engine.data_loader, max_epochs=1)
    shown = np.asarray(Image.open(tmp_path / "images" / "epoch001_iter4_fake_B.png"))
    assert shown.min() <= 2 and shown.max() >= 253  # the band spans black to white
