"""Handler cadences counted in training images, as pix2pix counts its ``--display_freq`` and ``--print_freq``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from monai.utils import min_version, optional_import

if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", "0.4.11", min_version, "Engine")

__all__ = ["epoch_images", "every_n_images", "images_seen"]


def _batch_size(engine: Engine) -> int:
    return int(getattr(getattr(engine, "data_loader", None), "batch_size", None) or 1)


def images_seen(engine: Engine) -> int:
    """Training images seen since the run began (``iteration * batch_size``; a resumed run counts on)."""
    return int(engine.state.iteration) * _batch_size(engine)


def epoch_images(engine: Engine) -> int:
    """Images seen in the current epoch (the reference's ``epoch_iter``)."""
    length = engine.state.epoch_length or engine.state.iteration or 1
    return ((int(engine.state.iteration) - 1) % int(length) + 1) * _batch_size(engine)


def every_n_images(n: int) -> Callable[[Engine, int], bool]:
    """An Ignite event filter that is true at the iterations where the image count passes a multiple of ``n``
    (at every iteration when a batch holds ``n`` or more images)."""
    if int(n) < 1:
        raise ValueError(f"a frequency in images must be a positive integer, got {n!r}.")

    def due(engine: Engine, event: int) -> bool:
        seen = images_seen(engine)
        return seen // int(n) > (seen - _batch_size(engine)) // int(n)

    return due
