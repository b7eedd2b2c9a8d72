"""Reproducible MONAI Bundles: MRI->CT, MM-GAN, CT phase pix2pix, glioma grading, glacier segmentation."""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

_SUBPACKAGES = ("bundle", "data", "engines", "handlers", "inferers", "losses", "metrics", "networks", "optimizers",
                "transforms", "utils")


def __getattr__(name: str) -> Any:
    """Subpackages load on first use, so a bundle config needs only ``$import monai_pipelines``."""
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
