"""Reproducible MONAI Bundles: MRI->CT, MM-GAN, CT phase pix2pix, glioma grading, glacier segmentation."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from typing import Any

__version__ = "0.2.0"

def lazy_submodules(package: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``package.<name>`` on first use, so a bundle config needs only
    ``$import monai_pipelines`` to call ``monai_pipelines.inferers.glacier_predictor.f(...)``."""

    def __getattr__(name: str) -> Any:
        if not name.startswith("_") and importlib.util.find_spec(f"{package}.{name}") is not None:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


__getattr__ = lazy_submodules(__name__)
