"""Screen datalists and inference inputs for unreadable or invalid images before a command uses them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def screen_datalist(datalist: list[dict], keys: Sequence[str], skip_corrupted: bool = False, **check_kwargs: Any
                    ) -> list[dict]:
    """The usable items of ``datalist``, every image of ``keys`` read and checked first: a bad file ends the
    command with one line naming it and its subject, or with ``skip_corrupted`` is logged and skipped, and the
    count reported (see :func:`check_inputs`; every key must be present)."""
    good, _ = check_inputs(datalist, keys, skip_corrupted, allow_missing_keys=False, **check_kwargs)
    return good


def check_inputs(items: Sequence[dict], keys: Sequence[str], skip_corrupted: bool = False,
                 spatial_dims: int | None = 3, num_channels: int | None = 1, allow_missing_keys: bool = True,
                 skip_option: str = "--skip_corrupted true", **check_kwargs: Any
                 ) -> tuple[list[dict], list[tuple[dict, str]]]:
    """Every image read and checked before anything is written: (usable items, skipped). An image that passed the
    same checks before, unchanged since, is not read again (:mod:`~monai_pipelines.data.screened_files`).

    A bad file ends the command with one line naming it (:class:`~monai_pipelines.utils.errors.InputError`), so no
    output of the good ones is left half-done; with ``skip_corrupted`` it is logged, skipped and counted instead.
    ``skip_option`` is how the command's user turns skipping on; ``check_kwargs`` go to
    :func:`~monai_pipelines.transforms.robust_load.filter_loadable` (e.g. ``reader``, or ``load`` for
    formats MONAI's readers do not know).
    """
    from monai_pipelines.transforms.robust_load import filter_loadable
    from monai_pipelines.utils.errors import InputError

    try:
        good, skipped = filter_loadable(items, keys, spatial_dims, allow_missing_keys=allow_missing_keys,
                                        num_channels=num_channels, strict=not skip_corrupted, remember=True,
                                        **check_kwargs)
    except (FileNotFoundError, InputError) as err:
        raise InputError(f"{err} (pass {skip_option} to skip unusable inputs)") from err
    if not good:
        raise InputError(f"none of the {len(items)} inputs can be used" + (f": {skipped[0][1]}" if skipped else "."))
    return list(good), list(skipped)
