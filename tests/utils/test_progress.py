"""Progress bars: off when stderr is not a terminal, on when a terminal or forced, the setting parsed strictly."""

from __future__ import annotations

import io
import sys

import pytest
from ignite.engine import Engine

from monai_pipelines.handlers import EngineProgressBar
from monai_pipelines.utils.errors import InputError
from monai_pipelines.utils.progress import show_progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_when_not_a_terminal_on_when_one(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert show_progress() is False
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert show_progress() is True


def test_setting_wins_and_is_strict(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert show_progress(True) is True and show_progress("true") is True
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert show_progress("false") is False
    with pytest.raises(InputError, match="--progress"):
        show_progress("sometimes")


def test_bar_drawn_only_when_enabled(monkeypatch):
    monkeypatch.setattr(sys, "stderr", out := _Terminal())
    engine = Engine(lambda e, b: {"loss": 0.5})
    EngineProgressBar(output_transform=lambda o: o, desc="train").attach(engine)
    engine.run(range(4), max_epochs=1)
    assert "train: [3/4]" in out.getvalue() and "loss=0.5" in out.getvalue()

    monkeypatch.setattr(sys, "stderr", out := io.StringIO())
    engine = Engine(lambda e, b: None)
    bar = EngineProgressBar(desc="train")
    bar.attach(engine)
    engine.run(range(4), max_epochs=1)
    assert bar.bar is None and "%|" not in out.getvalue()  # no bar (other output, e.g. logging, may appear)
