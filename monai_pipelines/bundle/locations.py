"""Where a bundle command reads and writes: the bundle folder of the config being run, and its run folders."""

from __future__ import annotations

import datetime
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from monai_pipelines.bundle.workflow_context import active_config_dir
from monai_pipelines.utils.errors import InputError

__all__ = ["RUN_FOLDER_CHOICES", "bundle_root", "run_dir", "run_folder"]

#: the values of a bundle's ``--run_folder`` with a meaning of their own; anything else names a run folder
RUN_FOLDER_CHOICES = ("auto", "new", "latest")
_RUN_NAME = re.compile(r"^run_\d{8}_\d{6}(_\d+)?$")


def bundle_root(name: str) -> str:
    """The folder of the bundle whose config is being run (``<bundle>/configs/x.json`` -> ``<bundle>``).

    Outside a MONAI command (a config read by hand), ``./bundles/<name>`` under the working directory, else the
    ``bundles/<name>`` beside the installed package. Runs of a second clone therefore land in that clone.
    """
    config_dir = active_config_dir()
    if config_dir is not None:
        return str(config_dir.parent if config_dir.name == "configs" else config_dir)
    local = Path.cwd() / "bundles" / name
    if local.is_dir():
        return str(local)
    from monai_pipelines.utils.paths import bundle_root as installed_bundle_root

    return installed_bundle_root(name)


def run_dir(bundle_dir: str | os.PathLike, run_name: str, fold: int | str | None = None) -> str:
    """``<bundle>/runs/<run_name>[/fold_<k>]``: one folder per run and fold."""
    path = Path(bundle_dir) / "runs" / str(run_name)
    return str(path if fold is None else path / f"fold_{int(fold)}")


def _runs(fold_dir: Path) -> list[Path]:
    """The ``run_YYYYMMDD_HHMMSS[_n]`` folders of a fold, oldest first."""
    if not fold_dir.is_dir():
        return []
    found = [p for p in fold_dir.iterdir() if p.is_dir() and _RUN_NAME.match(p.name)]
    return sorted(found, key=lambda p: (p.name[:19], int(p.name[20:] or 1)))


def _new_run(fold_dir: Path) -> Path:
    stamp = "run_" + datetime.datetime.now().strftime("%Y%m%d_%H%M%S")
    fold_dir.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:  # created here, so a second run within the same second gets its own folder
        path = fold_dir / (stamp if n == 1 else f"{stamp}_{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1


def _rank_zero_decides(fold_dir: Path, decide: Callable[[], Path]) -> Path:
    """``decide()`` on rank 0 of a torchrun launch, shared with the other ranks through a marker file named after
    the launch (its rendezvous id and the launching agent's pid), so every rank writes into the same run folder."""
    if int(os.environ.get("WORLD_SIZE", "1")) < 2:
        return decide()
    launch = f"{os.environ.get('TORCHELASTIC_RUN_ID', 'none')}_{os.getppid()}"
    marker = fold_dir / f".run_of_launch_{re.sub(r'[^A-Za-z0-9_.-]', '_', launch)}"
    if int(os.environ.get("RANK", "0")) == 0:
        from monai_pipelines.utils.atomic_write import write_text_atomic

        chosen = decide()
        fold_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(marker, chosen.name)
        return chosen
    deadline = time.monotonic() + 300
    while not marker.is_file():
        if time.monotonic() > deadline:
            raise InputError(f"{marker}: rank 0 did not choose the run folder within 300 s.")
        time.sleep(0.1)
    return fold_dir / marker.read_text().strip()


def run_folder(fold_dir: str | os.PathLike, which: str = "auto", command: str = "training") -> str:
    """``<fold_dir>/run_YYYYMMDD_HHMMSS``: one folder per training run of a fold (the glioma document's layout).

    Args:
        which: ``"new"``: a new folder; ``"latest"``: the newest run folder (evaluation and inference: the newest
            that holds a checkpoint); ``"auto"``: training continues the newest run when its training did not run to
            its end (killed, time budget: the automatic resume of every bundle) and otherwise starts a new folder,
            evaluation and inference read the newest trained run; any other value names a run folder of the fold.
        command: the bundle command (``"training"`` may create folders; the others only read trained runs).
    """
    from monai_pipelines.handlers.training_checkpoint import latest_checkpoint, training_completed

    fold = Path(fold_dir)
    training = command == "training"
    which = str(which)

    def trained_runs() -> list[Path]:
        return [p for p in _runs(fold) if latest_checkpoint(p / "checkpoints") is not None]

    def decide() -> Path:
        if which == "new":
            return _new_run(fold)
        if which == "latest" or (which == "auto" and not training):
            runs = _runs(fold) if training else trained_runs()
            if not runs:
                raise InputError(f"{fold}: no {'' if training else 'trained '}run_YYYYMMDD_HHMMSS folder to use "
                                 f"(--run_folder {which}); train one first or give --run_folder new.")
            return runs[-1]
        if which == "auto":
            runs = _runs(fold)
            if runs and not training_completed(runs[-1] / "checkpoints"):
                return runs[-1]  # interrupted (or never saved): continue it
            return _new_run(fold)
        named = fold / which
        if not training and latest_checkpoint(named / "checkpoints") is None:
            known = [p.name for p in trained_runs()]
            raise InputError(f"{named}: no trained run of that name (--run_folder {which}); trained runs: {known}.")
        return named

    chosen = _rank_zero_decides(fold, decide) if training else decide()
    return str(chosen)
