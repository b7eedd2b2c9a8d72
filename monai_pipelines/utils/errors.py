"""Bad-input errors as one clear line in bundle runs, instead of MONAI's chained traceback.

``python -m monai.bundle run`` prints every wrapped exception (DataLoader worker, ``apply_transform``,
config evaluation). :func:`install_error_hook` shows only the error a user can act on (an unreadable or
invalid image, a missing file, a bad manifest) when one is in the chain; any other exception keeps its
full traceback, and ``MONAI_PIPELINES_TRACEBACK=1`` always shows it.
"""

from __future__ import annotations

import logging
import os
import sys
from types import TracebackType

TRACEBACK_ENV = "MONAI_PIPELINES_TRACEBACK"


def _user_error_types() -> tuple[type[BaseException], ...]:
    from monai_pipelines.transforms.robust_load import CorruptedImageError

    return (CorruptedImageError, FileNotFoundError)


def find_user_error(exc: BaseException | None) -> BaseException | None:
    """The first bad-input error in ``exc``'s cause/context chain, or None."""
    types, seen = _user_error_types(), set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, types):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def install_error_hook() -> None:
    """Make uncaught bad-input errors print ``error: <file>: <problem>`` (exit status 1); idempotent."""
    previous = sys.excepthook
    if getattr(previous, "_monai_pipelines", False):
        return

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        found = None if os.environ.get(TRACEBACK_ENV) else find_user_error(exc)
        if found is None:
            previous(exc_type, exc, tb)
            return
        message = " ".join(str(found).split()) or type(found).__name__
        print(f"error: {message}  (full traceback: {TRACEBACK_ENV}=1)", file=sys.stderr)
        # exit now: interpreter teardown with native worker threads still alive can abort (SIGABRT) after the
        # message, turning a clean "exit 1" into a crash
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)

    hook._monai_pipelines = True  # type: ignore[attr-defined]
    sys.excepthook = hook
