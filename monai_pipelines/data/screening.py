"""Screen a datalist for unreadable or invalid images before training (``skip_corrupted``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

logger = logging.getLogger("monai_pipelines")


def screen_datalist(datalist: list[dict], keys: Sequence[str], skip_corrupted: bool = False, **check_kwargs) -> list[dict]:
    """``datalist`` unchanged when ``skip_corrupted`` is off (a bad file then fails with one clear line at
    load time); otherwise the loadable items, each skipped one logged with its reason and the count reported."""
    if not skip_corrupted:
        return list(datalist)
    from monai_pipelines.transforms.robust_load import filter_loadable

    good, skipped = filter_loadable(datalist, keys, **check_kwargs)
    for item, reason in skipped:
        logger.warning(f"skipping corrupted item (subject {item.get('subject', '?')}): {reason}")
    if skipped:
        logger.warning(f"skip_corrupted: {len(skipped)} of {len(datalist)} items skipped, {len(good)} used.")
    return good
