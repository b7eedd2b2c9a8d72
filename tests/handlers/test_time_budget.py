"""TimeBudget: stops before the budget with a checkpoint, never writes the final model, and the rerun finishes."""

from __future__ import annotations

import json
import logging

import torch
import torch.distributed as dist
from ignite.engine import Engine, Events

from monai_pipelines.handlers import TimeBudget
from tests._ddp import run_on_ranks
from tests.handlers._resume_script import build


class FakeClock:
    """Seconds that advance only when told: every epoch 'takes' 10 s, whatever the machine's load."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _with_clock(run, clock: FakeClock, seconds_per_epoch: float = 10.0):
    run.budget._clock = clock
    run.budget.start = clock()
    run.trainer.add_event_handler(Events.EPOCH_STARTED, lambda _: setattr(clock, "now", clock.now + seconds_per_epoch))
    return run


def test_stops_after_the_epoch_that_leaves_no_room_and_rerun_finishes(tmp_path, caplog):
    clock = FakeClock()
    # epoch ends at 10, 20, 30 s: after epoch 3, 30 + 10 (mean epoch) + 1 (margin) > 40 -> stop
    run = _with_clock(build(tmp_path, epochs=6, budget=40, margin=1, plot_every=100), clock)
    with caplog.at_level(logging.INFO):
        run.trainer.run()
    assert run.trainer.state.epoch == 3 and run.trainer.state.time_budget_stopped
    assert "time budget 0:00:40 nearly spent after epoch 3" in caplog.text
    assert "run the same command again to continue" in caplog.text
    ckpt_dir = tmp_path / "checkpoints"
    assert (ckpt_dir / "checkpoint_epoch3.pt").exists()
    assert not (ckpt_dir / "model_final.pt").exists()  # COMPLETED fired (ignite 0.5.5) but training did not finish

    rerun = build(tmp_path, epochs=6, plot_every=100)  # same command, no budget pressure
    rerun.trainer.run()
    assert rerun.checkpoint.resumed_from.name == "checkpoint_latest.pt"
    assert sorted(rerun.trainer.draws) == [4, 5, 6] and rerun.trainer.state.iteration == 18
    assert (ckpt_dir / "model_final.pt").exists()
    assert [r["epoch"] for r in rerun.history.history] == [1, 2, 3, 4, 5, 6]


def test_hard_stop_mid_epoch_saves_that_iteration_and_resumes_there(tmp_path):
    clock = FakeClock()
    run = build(tmp_path, epochs=4, budget=100, margin=0, plot_every=100)
    _with_clock(run, clock, seconds_per_epoch=0)
    jump = {2: 10.0, 5: 200.0}  # iteration 5 (epoch 2) runs past the budget
    run.trainer.add_event_handler(
        Events.ITERATION_STARTED, lambda e: setattr(clock, "now", clock.now + jump.get(e.state.iteration, 0.0))
    )
    run.trainer.run()
    assert (run.trainer.state.epoch, run.trainer.state.iteration) == (2, 5)
    files = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert files == ["checkpoint_epoch1.pt", "checkpoint_latest.pt"]  # no final model
    latest = torch.load(tmp_path / "checkpoints" / "checkpoint_latest.pt", weights_only=True)
    assert latest["trainer"]["iteration"] == 5  # the stopping iteration, not the last epoch end

    rerun = build(tmp_path, epochs=4, plot_every=100)
    rerun.trainer.run()
    assert rerun.checkpoint.resumed_from.name == "checkpoint_latest.pt" and rerun.trainer.state.iteration == 12
    assert sorted(rerun.trainer.draws) == [2, 3, 4]  # epoch 2 finishes its last batch, then 3 and 4
    assert [r["epoch"] for r in rerun.history.history] == [1, 2, 3, 4]


def test_disabled_budget_attaches_nothing():
    for budget in (None, 0):
        engine = Engine(lambda e, b: None)
        TimeBudget(budget).attach(engine)
        engine.run(range(2), max_epochs=3)
        assert engine.state.epoch == 3 and not hasattr(engine.state, "time_budget_stopped")


def _stop_on_rank(rank: int, out_dir: str) -> None:
    """Every step all-reduces (as DDP does); only rank 0's clock runs past the budget."""
    def step(engine, batch):
        dist.all_reduce(torch.ones(1))

    trainer = Engine(step)
    budget = TimeBudget(100, margin_seconds=0)
    clock = FakeClock()
    budget._clock, budget.start = clock, clock()
    budget.attach(trainer)
    if rank == 0:
        trainer.add_event_handler(Events.ITERATION_STARTED(once=5), lambda _: setattr(clock, "now", 500.0))
    trainer.run(range(4), max_epochs=5)
    with open(f"{out_dir}/rank{rank}.json", "w") as f:
        json.dump([trainer.state.epoch, trainer.state.iteration], f)


def test_ddp_ranks_stop_together_when_one_rank_runs_out_of_time(tmp_path):
    run_on_ranks(_stop_on_rank, tmp_path, str(tmp_path))
    stops = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert stops == [[2, 5], [2, 5]]  # rank 1's clock never ran out; it stops with rank 0 instead of hanging
