"""LossLogWriter: the reference's loss_log.txt lines every print_freq images, named losses from config, scaled."""

from __future__ import annotations

import re

import torch
from ignite.engine import Engine
from torch.utils.data import DataLoader

from monai_pipelines.handlers import LossLogWriter


def _engine(n_items: int = 12, batch_size: int = 4) -> tuple[Engine, DataLoader]:
    def step(engine, batch):
        return {"g_adv": torch.tensor(0.5), "g_rec": torch.tensor(0.02 * engine.state.iteration), "d_real": 0.25}

    engine = Engine(step)
    loader = DataLoader(list(range(n_items)), batch_size=batch_size)
    engine.data_loader = loader  # as MONAI's Workflow has it
    return engine, loader


def test_lines_every_print_freq_images_with_named_scaled_losses(tmp_path):
    engine, loader = _engine()
    path = tmp_path / "run" / "loss_log.txt"
    LossLogWriter(path, {"G_GAN": "g_adv", "G_L1": "g_rec", "D_real": "d_real", "D_fake": "d_fake"},
                  scales={"G_L1": 50.0}, print_freq=8).attach(engine)
    engine.run(loader, max_epochs=2)  # 3 iterations of 4 images per epoch: 24 images, a line at 8, 16, 24
    lines = path.read_text().splitlines()
    assert re.fullmatch(r"=+ Training Loss \(.+\) =+", lines[0])
    pattern = (r"\(epoch: (\d), iters: (\d+), time: \d+\.\d{3}, data: \d+\.\d{3}\) "
               r"G_GAN: 0\.500 G_L1: (\d+\.\d{3}) D_real: 0\.250")
    rows = [re.fullmatch(pattern, line) for line in lines[1:]]
    assert all(rows) and len(rows) == 3, lines
    # (epoch, images in the epoch, G_L1 = 50 * 0.02 * iteration): iterations 2, 4 and 6
    assert [(int(m[1]), int(m[2]), float(m[3])) for m in rows] == [(1, 8, 2.0), (2, 4, 4.0), (2, 12, 6.0)]


def test_a_resumed_run_appends_after_a_new_header(tmp_path):
    path = tmp_path / "loss_log.txt"
    for _ in range(2):
        engine, loader = _engine(n_items=4)
        LossLogWriter(path, ["g_adv"], print_freq=4).attach(engine)
        engine.run(loader, max_epochs=1)
    lines = path.read_text().splitlines()
    assert [line.startswith("====") for line in lines] == [True, False, True, False]
    assert lines[1].endswith("g_adv: 0.500")
