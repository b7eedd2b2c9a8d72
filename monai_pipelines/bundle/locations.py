"""Where a bundle command reads and writes: the bundle folder of the config being run, and its run folders."""

from __future__ import annotations

import os
from pathlib import Path

from monai_pipelines.bundle.workflow_context import active_config_dir

__all__ = ["bundle_root", "run_dir"]


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
