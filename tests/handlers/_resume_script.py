"""A tiny, complete training run (our SupervisedTrainer + checkpoint, history, time budget) for resume tests.

Run as ``python tests/handlers/_resume_script.py OUT --epochs 8 --sleep 0.03``; tests also import ``build``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from ignite.engine import Events
from monai.data import DataLoader, Dataset
from monai.handlers import LrScheduleHandler
from monai.transforms import Compose, RandGaussianNoised
from monai.utils import set_determinism

from monai_pipelines.engines import SupervisedTrainer
from monai_pipelines.handlers import RNGState, TimeBudget, TrainingCheckpoint, TrainingHistory


def build(out: str | Path, epochs: int, sleep: float = 0.0, budget: float | None = None, margin: float = 0.0,
          seed: int = 0, n_saved: int = 2, plot_every: int = 1):
    """Trainer and handlers attached in bundle order; ``trainer.draws`` records one torch.rand per epoch."""
    out = Path(out)
    set_determinism(seed=seed)
    data = [{"image": torch.randn(1, 8, 8), "label": torch.randn(1, 8, 8)} for _ in range(12)]
    dataset = Dataset(data, transform=Compose([RandGaussianNoised(keys="image", prob=0.5, std=0.1)]))
    loader = DataLoader(dataset, batch_size=4, shuffle=True, num_workers=0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 1, 1))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    trainer = SupervisedTrainer(
        device=torch.device("cpu"), max_epochs=epochs, train_data_loader=loader, network=net, optimizer=opt,
        loss_function=torch.nn.MSELoss(), train_handlers=[LrScheduleHandler(sched, print_lr=False)],
    )
    trainer.draws = {}

    @trainer.on(Events.EPOCH_STARTED)
    def _draw(engine):
        engine.draws[engine.state.epoch] = torch.rand(1).item()

    if sleep:
        trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda _: time.sleep(sleep))
    history = TrainingHistory(out, history_name="metrics/history.json", plot_name="plots/training_curves.png",
                              plot_every=plot_every)
    history.attach(trainer)
    checkpoint = TrainingCheckpoint(
        out / "checkpoints",
        {"network": net, "optimizer": opt, "scheduler": sched, "trainer": trainer, "history": history},
        n_saved=n_saved,
        final_name="model_final",
        final_save_dict={"network": net},
        rng_state=RNGState(transforms=dataset),
    )
    checkpoint.attach(trainer)
    budget_handler = TimeBudget(budget, checkpoint, margin_seconds=margin)
    budget_handler.attach(trainer)
    return SimpleNamespace(trainer=trainer, net=net, optimizer=opt, scheduler=sched, history=history,
                           checkpoint=checkpoint, budget=budget_handler, dataset=dataset)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--budget", type=float, default=None)
    parser.add_argument("--plot-every", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s %(message)s", force=True)
    torch.set_num_threads(1)
    trainer = build(args.out, args.epochs, args.sleep, args.budget, plot_every=args.plot_every).trainer
    trainer.run()
    print(f"finished at epoch {trainer.state.epoch}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
