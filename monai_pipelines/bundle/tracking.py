"""MONAI's ``--tracking mlflow`` fitted to this project's run folders, for training and evaluation.

MONAI patches an ``MLFlowHandler`` into the ids it knows (``train#handlers``, ``validate#evaluator``,
``evaluator``) and writes the executed config as ``config_<timestamp>.json`` at the top of the run folder. Here the
handler gets every loss term, the resolved settings as parameters and the run's ``config/``, ``metrics/``,
``plots/`` (and evaluation report folders) as artifacts, and the executed config moves into ``config/``. An
evaluation engine under any id gets a handler of its own (``track_evaluation``), so evaluation runs are tracked too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ignite.engine import Engine

from monai_pipelines.utils.dist import is_main_process

__all__ = ["finish_tracking", "fit_mlflow_handler", "mlflow_handlers", "track_evaluation"]

_ARTIFACT_FOLDERS = ("config", "metrics", "plots", "evaluation", "eval")
_EXECUTED_CONFIG = re.compile(r"config_\d{8}_\d{6}\.json")


def mlflow_handlers(engine: Engine) -> list[Any]:
    """The MONAI MLFlowHandlers attached to ``engine``."""
    from monai.handlers import MLFlowHandler

    found: list[Any] = []
    for handlers in engine._event_handlers.values():
        for func, *_ in handlers:
            owner = getattr(func, "__self__", None)
            if isinstance(owner, MLFlowHandler) and not any(owner is f for f in found):
                found.append(owner)
    return found


def fit_mlflow_handler(handler: Any, run: Any, output_transform: Callable | None = None) -> None:
    """Give ``handler`` the run's settings as parameters and its folders as artifacts (``output_transform``: the
    iteration scalars); move MONAI's executed config from the top of the run folder into ``config/``."""
    if output_transform is not None:
        handler.output_transform = output_transform
    handler.experiment_param = {"command": run.command,
                                **{k: json.dumps(v)[:500] for k, v in run.settings().items()}}
    out = Path(run.output_dir)
    for path in out.glob("config_*.json"):
        if _EXECUTED_CONFIG.fullmatch(path.name) and is_main_process():
            (out / "config").mkdir(parents=True, exist_ok=True)
            path.replace(out / "config" / f"executed_{path.name}")
    kept = [str(a) for a in handler.artifacts or () if a and Path(a).exists() and Path(a).parent != out]
    handler.artifacts = tuple(kept) + tuple(str(out / name) for name in _ARTIFACT_FOLDERS)


def track_evaluation(run: Any, engine: Engine) -> Any:
    """An evaluation run in MLflow when the command was given ``--tracking mlflow`` (or ``--tracking_uri``): the
    engine's metrics and the settings, in a run named ``<run_name>_<command>`` (rank 0); the report folders are
    logged by :func:`finish_tracking` once the command's writers are done. Returns the handler, or None."""
    if "tracking_uri" not in run.parser.config or not is_main_process():
        return None
    from monai.handlers import MLFlowHandler

    existing = mlflow_handlers(engine)  # e.g. MONAI's "validator" handler on an evaluation that reuses validate#
    handler = existing[0] if existing else MLFlowHandler(
        tracking_uri=run.get("tracking_uri"), experiment_name=run.get("experiment_name") or "monai_experiment",
        run_name=f"{run.get('run_name') or 'run'}_{run.command}", iteration_log=False, close_on_complete=False)
    fit_mlflow_handler(handler, run)
    _open[id(run)] = (handler, handler.artifacts)
    handler.artifacts = ()  # logged at finish_tracking, after the reports written once the engine has run
    if not existing:
        handler.attach(engine)
    return handler


_open: dict[int, tuple[Any, tuple]] = {}


def finish_tracking(run: Any) -> None:
    """Log the artifacts of the run's evaluation tracking and close its MLflow run (nothing when not tracked)."""
    handler, artifacts = _open.pop(id(run), (None, ()))
    if handler is None:
        return
    handler.artifacts = artifacts
    handler.complete()
    handler.close()
