"""run_folder: the glioma document's fold_k/run_YYYYMMDD_HHMMSS layout, with the automatic resume of every bundle."""

from __future__ import annotations

import re

import pytest
import torch
from ignite.engine import Engine, Events

from monai_pipelines.bundle import run_folder
from monai_pipelines.handlers import TrainingCheckpoint
from monai_pipelines.handlers.training_checkpoint import training_completed
from monai_pipelines.utils.errors import InputError


def _train(run: str, epochs: int = 2, stop_at: int | None = None) -> None:
    """A toy training writing its checkpoints into ``run``; ``stop_at``: stopped like a kill at that iteration."""
    engine = Engine(lambda e, b: None)
    if stop_at is not None:
        def stop(e: Engine) -> None:
            if e.state.iteration == stop_at:
                raise KeyboardInterrupt
        engine.add_event_handler(Events.ITERATION_STARTED, stop)
    TrainingCheckpoint(f"{run}/checkpoints", {"net": torch.nn.Linear(1, 1)}, final=None).attach(engine)
    try:
        engine.run(range(2), max_epochs=epochs)
    except KeyboardInterrupt:
        pass


def test_new_folder_per_run_and_resume_of_an_interrupted_one(tmp_path, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    fold = tmp_path / "fold_0"
    first = run_folder(fold, "auto")
    assert re.fullmatch(r"run_\d{8}_\d{6}", first.rsplit("/", 1)[-1])
    assert run_folder(fold, "auto") == first  # nothing trained there yet: the same folder
    _train(first, epochs=2, stop_at=3)  # killed in epoch 2
    assert training_completed(f"{first}/checkpoints") is False
    assert run_folder(fold, "auto") == first  # the interrupted run is continued, as every bundle resumes
    _train(first, epochs=2)
    assert training_completed(f"{first}/checkpoints") is True
    second = run_folder(fold, "auto")  # a finished run is never written into again
    assert second != first and second.startswith(str(fold / "run_"))
    _train(second)
    third = run_folder(fold, "new")
    assert third not in (first, second)  # two runs within one second get a suffix
    # evaluation and inference read the newest trained run, or the one named
    assert run_folder(fold, "auto", "evaluating") == second == run_folder(fold, "latest", "inference")
    name = first.rsplit("/", 1)[-1]
    assert run_folder(fold, name, "evaluating") == first
    assert run_folder(fold, "latest") == third  # training: the newest run folder, explicitly
    with pytest.raises(InputError, match="no trained run of that name"):
        run_folder(fold, "run_20000101_000000", "evaluating")
    with pytest.raises(InputError, match="no trained run_YYYYMMDD_HHMMSS folder"):
        run_folder(tmp_path / "fold_1", "auto", "inference")


def test_ranks_of_one_launch_share_rank_zeros_folder(tmp_path, monkeypatch):
    """Under torchrun every rank resolves output_dir; rank 0 decides and the others read its choice."""
    fold = tmp_path / "fold_0"
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "launch1")
    monkeypatch.setenv("RANK", "0")
    chosen = run_folder(fold, "new")
    monkeypatch.setenv("RANK", "1")  # a second later, say: its own clock would name another folder
    assert run_folder(fold, "new") == chosen
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "launch2")  # the next launch decides afresh
    monkeypatch.setenv("RANK", "0")
    assert run_folder(fold, "new") != chosen
