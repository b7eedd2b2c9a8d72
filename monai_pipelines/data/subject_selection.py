"""Evaluation on a chosen list of subjects (the source guide's ``test_model.py --test-patients``), from any split."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import PurePath

from monai_pipelines.data.manifest import SPLITS
from monai_pipelines.utils.enums import Keys
from monai_pipelines.utils.errors import InputError

__all__ = ["parse_subjects", "select_subjects"]

logger = logging.getLogger("monai_pipelines")

_NIFTI_SUFFIXES = (".nii.gz", ".nii")


def parse_subjects(subjects: str | Sequence[str]) -> list[str]:
    """Subject ids from a list or a comma-separated string; a path (``data/set/patient_051``, ``.../x.nii.gz``)
    names the subject by its last component without a NIfTI suffix."""
    names = subjects.split(",") if isinstance(subjects, str) else list(subjects)
    parsed = []
    for name in names:
        name = PurePath(str(name).strip().rstrip("/")).name
        for suffix in _NIFTI_SUFFIXES:
            name = name[: -len(suffix)] if name.lower().endswith(suffix) else name
        if name and name not in parsed:
            parsed.append(name)
    if not parsed:
        raise InputError(f"subjects: no subject named in {subjects!r}.")
    return parsed


def select_subjects(
    datalist: Callable[..., list[dict]],
    split: str,
    subjects: str | Sequence[str] | None,
    keys: Sequence[str] | None = None,
) -> list[dict]:
    """``datalist(split, keys)`` when ``subjects`` is None, else the items of the named subjects from every split.

    Args:
        datalist: ``(split, keys) -> items`` of the current fold, e.g. a bundle's ``run_context.datalist``.
        subjects: subject ids (see :func:`parse_subjects`); items keep the order the subjects are named in.

    Raises:
        InputError: a named subject is in no split (one line, naming it and some known subjects).
    """
    if subjects is None:
        return datalist(split, keys)
    wanted = parse_subjects(subjects)
    by_subject: dict[str, list[dict]] = {}
    found_in: dict[str, str] = {}
    for name in SPLITS:
        for item in datalist(name, keys):
            subject = str(item.get(Keys.SUBJECT))
            by_subject.setdefault(subject, []).append(item)
            found_in.setdefault(subject, name)
    unknown = [s for s in wanted if s not in by_subject]
    if unknown:
        known = sorted(by_subject)
        raise InputError(f"subjects: {', '.join(unknown)} not in the manifest ({len(known)} subjects, e.g. "
                         f"{', '.join(known[:3])}).")
    logger.info("evaluating %d chosen subject(s): %s", len(wanted),
                ", ".join(f"{s} ({found_in[s]})" for s in wanted))
    return [item for s in wanted for item in by_subject[s]]
