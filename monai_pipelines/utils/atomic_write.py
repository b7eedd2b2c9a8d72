"""Every file the project writes goes through here: a temporary name in the same folder, fsync, then rename.

A reader (or a resumed run) therefore sees the old file or the new one, never half of one, whatever kills the
writer. Temporary names start with a dot and end in ``.tmp`` so a later run can recognise and remove them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "TMP_SUFFIX",
    "atomic_copy",
    "atomic_path",
    "atomic_save",
    "is_temporary",
    "remove_stale_temporaries",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]

TMP_SUFFIX = ".tmp"


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (best effort: not every platform can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    if not path.is_file():
        return
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def is_temporary(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an unfinished temporary file made by :func:`atomic_path`."""
    name = Path(path).name
    return name.startswith(".") and name.endswith(TMP_SUFFIX)


def _writer_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike, min_age_s: float = 60.0) -> list[Path]:
    """Delete the temporary files under ``folder`` left by writers that were killed: the process named in the
    temporary name is gone and the file is older than ``min_age_s``. Returns what was removed."""
    import time

    removed, now = [], time.time()
    root = Path(folder)
    if not root.is_dir():
        return removed
    for path in root.rglob(f".*{TMP_SUFFIX}"):
        parts = path.name.split(".")
        pid = next((int(p) for p in reversed(parts) if p.isdigit()), None)
        try:
            old = now - path.stat().st_mtime >= min_age_s
        except OSError:
            continue
        if pid is not None and old and not _writer_alive(pid):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path beside ``path`` to write to; on success it replaces ``path`` (fsynced), on error it is
    removed and ``path`` is untouched. The temporary name ends in ``.tmp``: give writers that pick a format from
    the file name (matplotlib, nibabel, ``np.save``) the format explicitly, or a file object."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffixes = "".join(path.suffixes[-2:]) if path.name.endswith(".nii.gz") else path.suffix
    tmp = path.with_name(f".{path.name}.{os.getpid()}{suffixes}{TMP_SUFFIX}")
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj)`` to ``path`` atomically."""
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)
    return Path(path)


def atomic_copy(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy ``src`` to ``dst`` atomically."""
    with atomic_path(dst) as tmp, open(src, "rb") as fin, open(tmp, "wb") as fout:
        shutil.copyfileobj(fin, fout, length=16 << 20)
    return Path(dst)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=indent) + "\n")
