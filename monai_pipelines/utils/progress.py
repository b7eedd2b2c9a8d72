"""Whether progress bars show: the ``progress`` setting of the command when given, else only on a terminal.

Every progress bar of the package (training, evaluation and inference engines, dataset caching, data
preparation) asks here, so ``--progress false`` turns them all off, and output redirected to a file or a CI log
gets no bars without asking.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["show_progress"]

_UNSET = object()


def _config_setting() -> Any:
    """The ``progress`` id of the bundle config being run, when there is one (``--progress`` on the command line)."""
    from monai_pipelines.bundle.workflow_context import active_parser

    parser = active_parser()
    if parser is None or "progress" not in parser.config:
        return _UNSET
    return parser.get_parsed_content("progress")


def show_progress(setting: Any = None) -> bool:
    """True when progress bars should show: ``setting`` (a boolean or true/false/1/0) when not None, else the
    running config's ``progress`` id, else whether stderr (where tqdm writes) is a terminal (on rank 0 only)."""
    from monai_pipelines.bundle.booleans import parse_bool
    from monai_pipelines.utils.dist import is_main_process

    if setting is None:
        setting = _config_setting()
    if setting is not _UNSET and setting is not None:
        return parse_bool(setting, "progress") and is_main_process()
    stream = sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)()) and is_main_process()
