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

from monai_pipelines.data.epoch_seeded_sampler import EpochSeededSampler, ItemSeededDataset, ResumableSampler
from monai_pipelines.engines import SupervisedTrainer
from monai_pipelines.handlers import TimeBudget, TrainingCheckpoint, TrainingHistory


def build(out: str | Path, epochs: int, sleep: float = 0.0, budget: float | None = None, margin: float = 0.0,
          seed: int = 0, plot_every: int = 1, every_n_iterations: int | None = None, num_workers: int = 0):
    """Trainer and handlers attached in bundle order, with the bundles' resumable data order (as
    ``RunContext.train_loader`` and ``TrainingHandlers`` wire them); ``trainer.draws`` records one torch.rand per
    epoch."""
    out = Path(out)
    set_determinism(seed=seed)
    generator = torch.Generator().manual_seed(1)
    data = [{"image": torch.randn(1, 8, 8, generator=generator), "label": torch.randn(1, 8, 8, generator=generator)}
            for _ in range(12)]
    dataset = Dataset(data, transform=Compose([RandGaussianNoised(keys="image", prob=0.5, std=0.1)]))
    sampler = EpochSeededSampler(ResumableSampler(len(dataset), seed=seed), seed=seed)
    loader = DataLoader(ItemSeededDataset(dataset), batch_size=4, sampler=sampler, num_workers=num_workers,
                        persistent_workers=num_workers > 0, generator=torch.Generator().manual_seed(seed))
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 1, 1))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    trainer = SupervisedTrainer(
        device=torch.device("cpu"), max_epochs=epochs, train_data_loader=loader, network=net, optimizer=opt,
        loss_function=torch.nn.MSELoss(), train_handlers=[LrScheduleHandler(sched, print_lr=False)],
    )
    trainer.draws = {}

    @trainer.on(Events.EPOCH_STARTED)
    def _epoch_order(engine):  # as TrainingHandlers does: a resumed epoch skips the batches it already trained on
        done = engine.state.iteration - (engine.state.epoch - 1) * engine.state.epoch_length
        sampler.set_epoch(engine.state.epoch - 1, start=done * loader.batch_size)

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
        snapshot_every=1,
        keep_snapshots=2,
        final="model_final.pt",
        every_n_iterations=every_n_iterations,
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
    parser.add_argument("--every-n-iterations", type=int, default=None)
    parser.add_argument("--num-workers", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s %(message)s", force=True)
    torch.set_num_threads(1)
    run = build(args.out, args.epochs, args.sleep, args.budget, plot_every=args.plot_every,
                every_n_iterations=args.every_n_iterations, num_workers=args.num_workers)
    run.trainer.run()
    torch.save(run.net.state_dict(), Path(args.out) / "weights_at_end.pt")
    print(f"finished at epoch {run.trainer.state.epoch}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
