"""Ignite's tqdm ProgressBar on an engine, only when progress bars should show (see ``utils.progress``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ignite.engine import Engine
from ignite.handlers import ProgressBar

from monai_pipelines.utils.progress import show_progress

__all__ = ["EngineProgressBar"]


class EngineProgressBar:
    """A per-epoch progress bar (iterations, rate, time left; ``output_transform``'s scalars as its postfix).

    Args:
        enabled: True/False, or None: on a terminal unless the command's ``progress`` setting says otherwise.
        output_transform: engine output -> scalar or dict of scalars shown beside the bar (e.g. the losses).
        desc: the bar's label.
    """

    def __init__(self, enabled: Any = None, output_transform: Callable | None = None, desc: str | None = None) -> None:
        self.enabled = show_progress(enabled)
        self.output_transform = output_transform
        self.desc = desc
        self.bar: ProgressBar | None = None

    def attach(self, engine: Engine) -> None:
        if not self.enabled:
            return
        kwargs = {"desc": self.desc} if self.desc else {}
        self.bar = ProgressBar(persist=False, **kwargs)
        self.bar.attach(engine, output_transform=self.output_transform)
