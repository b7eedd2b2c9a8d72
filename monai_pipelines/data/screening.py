"""Screen datalists for unreadable or invalid images: training items and inference inputs (``skip_corrupted``)."""

from __future__ import annotations

from collections.abc import Sequence


def screen_datalist(datalist: list[dict], keys: Sequence[str], skip_corrupted: bool = False, **check_kwargs) -> list[dict]:
    """``datalist`` unchanged when ``skip_corrupted`` is off (a bad file then fails with one clear line at
    load time); otherwise the loadable items, each skipped one logged with its reason and the count reported."""
    if not skip_corrupted:
        return list(datalist)
    from monai_pipelines.transforms.robust_load import filter_loadable

    good, _ = filter_loadable(datalist, keys, **check_kwargs)  # logs each skipped item and the count
    return good


def check_inputs(items: Sequence[dict], keys: Sequence[str], skip_corrupted: bool = False,
                 spatial_dims: int | None = 3, num_channels: int | None = 1) -> tuple[list[dict], list[tuple[dict, str]]]:
    """Inference inputs, every image read and checked before anything is written: (usable items, skipped).

    A bad file ends the command with one line naming it (:class:`~monai_pipelines.utils.errors.InputError`), so no
    output of the good ones is left half-done; with ``skip_corrupted`` it is logged, skipped and counted instead.
    """
    from monai_pipelines.transforms.robust_load import CorruptedImageError, filter_loadable
    from monai_pipelines.utils.errors import InputError

    try:
        good, skipped = filter_loadable(items, keys, spatial_dims, allow_missing_keys=True, num_channels=num_channels,
                                        strict=not skip_corrupted)
    except (FileNotFoundError, CorruptedImageError) as err:
        raise InputError(f"{err} (pass --skip_corrupted true to skip unusable inputs)") from err
    if not good:
        raise InputError(f"none of the {len(items)} inputs can be used" + (f": {skipped[0][1]}" if skipped else "."))
    return list(good), list(skipped)
