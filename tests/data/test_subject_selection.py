"""select_subjects: a chosen list of subjects from any split (the guide's --test-patients), one-line errors."""

from __future__ import annotations

import pytest

from monai_pipelines.data.subject_selection import parse_subjects, select_subjects
from monai_pipelines.utils.errors import InputError

SPLITS = {"training": ["p1", "p2"], "validation": ["p3"], "test": ["p4", "p5"]}


def _datalist(split, keys=None):
    return [{"subject": s, "image": f"/d/{s}_t1.nii.gz"} for s in SPLITS[split]]


def test_no_subjects_is_the_split():
    assert [d["subject"] for d in select_subjects(_datalist, "test", None)] == ["p4", "p5"]


def test_named_subjects_from_any_split_in_the_given_order():
    items = select_subjects(_datalist, "test", ["p5", "data/full_training_dataset/p1/", "p3.nii.gz"])
    assert [d["subject"] for d in items] == ["p5", "p1", "p3"]
    assert parse_subjects("p1, p2,p1") == ["p1", "p2"]


def test_unknown_subject_is_one_line():
    with pytest.raises(InputError, match=r"^subjects: p9 not in the manifest \(5 subjects, e.g. p1, p2, p3\)\.$"):
        select_subjects(_datalist, "test", "p1,p9")
    with pytest.raises(InputError, match="no subject named"):
        parse_subjects(" , ")
