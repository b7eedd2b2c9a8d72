"""A user's error as one clear line, instead of MONAI's and Ignite's chained tracebacks.

``python -m monai.bundle run`` wraps every exception (DataLoader worker, ``apply_transform``, config evaluation), and
MONAI's StatsHandler and Ignite log it, traceback included, before it reaches the top. :func:`install_error_hook`
prints only the error a user can act on (an :class:`InputError` such as an unreadable image, a bad manifest or a
contradicting override; a missing file) when one is in the chain, and keeps the loggers from printing its
traceback first; any other exception keeps its full traceback. ``MONAI_PIPELINES_TRACEBACK=1`` shows everything.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from types import TracebackType

__all__ = [
    "InputError", "TRACEBACK_ENV", "find_user_error", "install_error_hook", "quiet_user_error_logs", "user_error_message"
]

TRACEBACK_ENV = "MONAI_PIPELINES_TRACEBACK"

# a DataLoader worker's error comes back as text: "Caught X in DataLoader worker ...\nOriginal Traceback ..."
_WORKER_LINE = re.compile(r"^(?:[\w.]+\.)?(\w+(?:Error|Exception)): (.+)$")


class InputError(ValueError):
    """Something the user gave (a file, a manifest, a setting) cannot be used; ``str(err)`` is one sentence that
    names it and the problem."""


def _user_error_types() -> tuple[type[BaseException], ...]:
    from monai.utils import OptionalImportError  # an optional dependency (rasterio, mlflow) is not installed

    return (InputError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError,
            OptionalImportError)


def _user_error_names() -> set[str]:
    from monai_pipelines.transforms.robust_load import CorruptedImageError

    return {t.__name__ for t in (*_user_error_types(), CorruptedImageError)}


class _WorkerError(InputError):
    """A user error re-raised by a DataLoader worker, recovered from the worker's traceback text."""


def _from_worker_text(exc: BaseException) -> BaseException | None:
    text = str(exc)
    if "Original Traceback" not in text:
        return None
    names = _user_error_names()
    for line in text.splitlines():
        match = _WORKER_LINE.match(line.strip())
        if match and match.group(1) in names:
            return _WorkerError(match.group(2))
    return None


def find_user_error(exc: BaseException | None) -> BaseException | None:
    """The first user error in ``exc``'s cause/context chain (also inside a DataLoader worker's text), or None."""
    types, seen = _user_error_types(), set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, types):
            return exc
        recovered = _from_worker_text(exc)
        if recovered is not None:
            return recovered
        exc = exc.__cause__ or exc.__context__
    return None


def user_error_message(exc: BaseException) -> str:
    """The error's message on one line (an OSError as ``<file>: <reason>``)."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return " ".join(str(exc).split()) or type(exc).__name__


class _QuietUserErrors(logging.Filter):
    """Drops log records about a user error (MONAI's StatsHandler, Ignite's engine): the hook prints it once."""

    def filter(self, record: logging.LogRecord) -> bool:
        if os.environ.get(TRACEBACK_ENV):
            return True
        if record.exc_info and find_user_error(record.exc_info[1]) is not None:
            return False
        return not (record.levelno >= logging.ERROR and "terminating due to exception" in record.getMessage())


_FILTER = _QuietUserErrors()


def quiet_user_error_logs() -> None:
    """Keep every handler of every logger that exists now from printing a user error (call again after adding
    handlers: MONAI's ``get_logger`` gives loggers handlers of their own)."""
    loggers = [logging.getLogger()] + [
        obj for obj in logging.Logger.manager.loggerDict.values() if isinstance(obj, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)


def install_error_hook() -> None:
    """Make uncaught user errors print ``error: <message>`` and exit with status 1; idempotent."""
    quiet_user_error_logs()
    previous = sys.excepthook
    if getattr(previous, "_monai_pipelines", False):
        return

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        found = None if os.environ.get(TRACEBACK_ENV) else find_user_error(exc)
        if found is None:
            previous(exc_type, exc, tb)
            return
        print(f"error: {user_error_message(found)}  (full traceback: {TRACEBACK_ENV}=1)", file=sys.stderr)
        # exit now: interpreter teardown with native worker threads still alive can abort (SIGABRT) after the
        # message, turning a clean "exit 1" into a crash
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)

    hook._monai_pipelines = True  # type: ignore[attr-defined]
    sys.excepthook = hook
