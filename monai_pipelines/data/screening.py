"""Screen a datalist for unreadable or invalid images before training (``skip_corrupted``)."""

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
