"""Files that passed the start-of-command screening, remembered so that later commands do not read them again.

Every command reads and checks every image it will use before it writes anything
(:func:`~monai_pipelines.transforms.robust_load.filter_loadable`). At the source documents' scale that decoded the
whole dataset at every start, resumes and folds included (benchmarks/RESULTS.md: pix2pix's 24 pairs of 512x512x100
CT, 27 s of each start). A file that passed is remembered with its size, modification time and inode, under the checks' settings and the
package version; while all of them are unchanged, it passes without being read. Files that failed are not
remembered. The records are JSON files in ``$MONAI_PIPELINES_CACHE/screened`` (delete them to screen everything
again), written atomically, so the ranks of a distributed run can share them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monai_pipelines.utils.atomic_write import write_json_atomic
from monai_pipelines.utils.paths import cache_dir

__all__ = ["ScreenedFiles", "describe_setting"]

logger = logging.getLogger("monai_pipelines")

RECORD_VERSION = 1  # raise when a check is added or changed: files screened before are then read again

_SIMPLE = (str, int, float, bool, tuple, type(None))


def describe_setting(value: Any) -> str:
    """A setting of the checks as stable text (a reader or loading transform by its class and simple attributes,
    not its address)."""
    if isinstance(value, _SIMPLE + (list, dict)):
        return repr(value)
    attributes = sorted((k, repr(v)) for k, v in vars(value).items() if isinstance(v, _SIMPLE)) if hasattr(
        value, "__dict__") else []
    return f"{type(value).__module__}.{type(value).__qualname__}{attributes}"


def _key(paths: Sequence[Path]) -> str:
    return "\n".join(map(str, paths))


def _stamps(paths: Sequence[Path]) -> list[int] | None:
    """Size, modification time and inode of every file of ``paths``; None when one cannot be read."""
    out = []
    for path in paths:
        try:
            st = Path(path).stat()
        except OSError:
            return None
        out += [st.st_size, st.st_mtime_ns, st.st_ino]
    return out


class ScreenedFiles:
    """The files that passed one set of checks (``settings``: their description), read from and saved to
    ``folder`` (default: the package cache's ``screened/``).

    A record is for one image or for the images a check reads together (a loading transform's item).
    """

    def __init__(self, settings: Sequence[Any], folder: str | os.PathLike | None = None) -> None:
        from monai_pipelines import __version__

        text = json.dumps([RECORD_VERSION, __version__, *map(describe_setting, settings)])
        self.records: dict[str, list] = {}
        self.added = 0
        try:
            self.path: Path | None = Path(folder or cache_dir("screened")) / \
                f"{hashlib.sha1(text.encode()).hexdigest()[:20]}.json"
        except OSError as e:  # no writable cache (e.g. a read-only home): every command reads every image
            logger.debug("screened files not remembered: %s", e)
            self.path = None
            return
        try:
            self.records = json.loads(self.path.read_text())["files"]
        except (OSError, ValueError, KeyError, TypeError):
            pass

    def shape(self, paths: Sequence[Path]) -> list[int] | None:
        """The spatial shape recorded when ``paths`` (one image, or the images one check reads together) passed
        (``[]`` for a check that records none), or None when they must be read: unknown, or changed since."""
        record = self.records.get(_key(paths))
        if record is None or record[:-1] != _stamps(paths):
            return None
        return list(record[-1])

    def passed(self, paths: Sequence[Path], shape: Sequence[int] = ()) -> None:
        """Remember that ``paths`` passed, with their spatial ``shape``."""
        stamps = _stamps(paths)
        if stamps is not None:
            self.records[_key(paths)] = [*stamps, list(shape)]
            self.added += 1

    def save(self) -> None:
        """Write the records when files were added (what another process saved meanwhile is merged first)."""
        if not self.added or self.path is None:
            return
        try:
            merged = {**json.loads(self.path.read_text())["files"], **self.records}
        except (OSError, ValueError, KeyError, TypeError):
            merged = self.records
        try:
            write_json_atomic(self.path, {"files": merged}, indent=None)
        except OSError as e:  # a read-only cache only costs reading again next time
            logger.debug("could not save the screened files to %s: %s", self.path, e)
        self.added = 0
