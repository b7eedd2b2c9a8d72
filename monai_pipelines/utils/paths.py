"""Where bundles, caches and the repository live, independent of the working directory."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "MONAI_PIPELINES_CACHE"


def repo_root() -> Path:
    """The source checkout that holds the package (``bundles/`` lives beside it)."""
    return Path(__file__).resolve().parents[2]


def bundle_root(name: str) -> str:
    """Folder of bundle ``name``: ``<repo>/bundles/<name>`` if present, else ``./bundles/<name>``."""
    candidate = repo_root() / "bundles" / name
    if candidate.is_dir():
        return str(candidate)
    return str(Path.cwd() / "bundles" / name)


def cache_dir(*parts: str) -> Path:
    """Cache folder for generated demo data: ``$MONAI_PIPELINES_CACHE`` or ``~/.cache/monai_pipelines``."""
    root = Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "monai_pipelines"))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
