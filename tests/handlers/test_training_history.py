"""TrainingHistory: per-epoch rows (train loss, evaluator metrics, LR, time), JSON + PNG, continuation."""

from __future__ import annotations

import json

import pytest
import torch
from ignite.engine import Events
from ignite.metrics import MeanSquaredError
from monai.handlers import ValidationHandler, from_engine

from monai_pipelines.engines import SupervisedEvaluator, SupervisedTrainer
from monai_pipelines.handlers import TrainingHistory


def _trainer_and_evaluator(epochs: int = 3):
    torch.manual_seed(0)
    data = [{"image": torch.randn(2, 1, 6, 6), "label": torch.randn(2, 1, 6, 6)} for _ in range(3)]
    net = torch.nn.Conv2d(1, 1, 3, padding=1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    evaluator = SupervisedEvaluator(
        device=torch.device("cpu"), val_data_loader=data[:2], network=net,
        key_val_metric={"val_mse": MeanSquaredError(output_transform=from_engine(["pred", "label"]))},
    )
    trainer = SupervisedTrainer(
        device=torch.device("cpu"), max_epochs=epochs, train_data_loader=data, network=net, optimizer=opt,
        loss_function=torch.nn.MSELoss(), train_handlers=[ValidationHandler(validator=evaluator, interval=2)],
    )
    return trainer, evaluator, opt


def test_rows_json_and_png(tmp_path):
    trainer, evaluator, _ = _trainer_and_evaluator()
    losses: dict[int, list[float]] = {}
    trainer.add_event_handler(
        Events.ITERATION_COMPLETED, lambda e: losses.setdefault(e.state.epoch, []).append(e.state.output["loss"])
    )
    history = TrainingHistory(tmp_path, evaluator=evaluator, history_name="metrics/history.json",
                              plot_name="plots/curves.png")
    history.attach(trainer)
    trainer.run()
    rows = json.loads((tmp_path / "metrics" / "history.json").read_text())
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    for row in rows:
        assert row["train_loss"] == pytest.approx(sum(losses[row["epoch"]]) / 3)
        assert row["lr"] == pytest.approx(1e-2) and row["epoch_time"] >= 0
    # the evaluator ran at epoch 2 only (interval 2): its metric under its own name, only for that epoch
    assert "val_mse" in rows[1] and "val_mse" not in rows[0] and "val_mse" not in rows[2]
    assert rows[1]["val_mse"] == pytest.approx(evaluator.state.metrics["val_mse"])
    png = (tmp_path / "plots" / "curves.png").read_bytes()
    assert png[:4] == b"\x89PNG" and len(png) > 5000
    assert not list(tmp_path.rglob(".*.tmp*"))


def test_state_dict_continues_history(tmp_path):
    trainer, evaluator, _ = _trainer_and_evaluator(epochs=2)
    first = TrainingHistory(tmp_path, evaluator=evaluator, plot_name=None)
    first.attach(trainer)
    trainer.run()
    assert not (tmp_path / "training_curves.png").exists()

    trainer2, evaluator2, _ = _trainer_and_evaluator(epochs=4)
    second = TrainingHistory(tmp_path, evaluator=evaluator2, plot_every=2)
    second.load_state_dict(first.state_dict())
    second.attach(trainer2)
    trainer2.load_state_dict({"epoch": 2, "epoch_length": 3, "max_epochs": 4})
    trainer2.run()
    rows = json.loads((tmp_path / "history.json").read_text())
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert rows[:2] == first.history
    assert (tmp_path / "training_curves.png").exists()

    # a rerun of epoch 4 (resumed from an older checkpoint) replaces its row instead of adding one
    second.history.append({"epoch": 5, "train_loss": 1.0})
    trainer2.load_state_dict({"epoch": 3, "epoch_length": 3, "max_epochs": 4})
    trainer2.run()
    assert [r["epoch"] for r in second.history] == [1, 2, 3, 4]


def test_extra_output_scalars_for_gan_trainers(tmp_path):
    from ignite.engine import Engine

    # a GAN-style engine without decollation: output is one dict of scalars
    engine = Engine(lambda e, b: {"loss": float(b), "g_loss": float(b), "d_loss": 10.0 * b})
    history = TrainingHistory(tmp_path, output_keys=("g_loss", "d_loss", "missing"), plot_every=2)
    history.attach(engine)
    engine.run([1, 2, 3], max_epochs=2)
    assert [sorted(r) for r in history.history] == [["epoch", "epoch_time", "train_d_loss", "train_g_loss",
                                                     "train_loss"]] * 2
    assert history.history[1]["train_d_loss"] == pytest.approx(20.0)
    assert history.history[1]["train_g_loss"] == pytest.approx(2.0) == history.history[1]["train_loss"]
    assert (tmp_path / "training_curves.png").exists()


@pytest.mark.parametrize("interval, expected", [(0.0, [1, 2, 3, 4]), (30.0, [4])])
def test_curves_are_drawn_at_most_every_plot_interval_seconds_and_at_the_end(tmp_path, monkeypatch, interval,
                                                                            expected):
    from ignite.engine import Engine

    engine = Engine(lambda e, b: {"loss": float(b)})
    history = TrainingHistory(tmp_path, plot_interval=interval)
    drawn = []
    monkeypatch.setattr(history, "plot", lambda: drawn.append(len(history.history)))
    history.attach(engine)
    engine.run([1, 2], max_epochs=4)  # four epochs within a second
    assert drawn == expected


def test_an_early_stop_draws_every_epoch_it_ran(tmp_path, monkeypatch):
    from ignite.engine import Engine, Events

    engine = Engine(lambda e, b: {"loss": float(b)})
    history = TrainingHistory(tmp_path)
    drawn = []
    monkeypatch.setattr(history, "plot", lambda: drawn.append(len(history.history)))
    history.attach(engine)
    engine.add_event_handler(Events.EPOCH_COMPLETED(once=2), lambda e: e.terminate())
    engine.run([1, 2], max_epochs=10)
    assert drawn == [2]
