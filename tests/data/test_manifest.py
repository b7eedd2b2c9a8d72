"""Manifests: seeded subject-grouped stratified folds, written once, validated, selected per fold."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from monai.data import load_decathlon_datalist

from monai_pipelines.data.folds import assign_folds, split_subjects
from monai_pipelines.data.manifest import (
    build_manifest,
    datalist,
    ensure_manifest,
    load_manifest,
    select_fold,
    validate_manifest,
    write_manifest,
)

SPLITS = ("training", "validation", "test")


def make_items(n_subjects: int = 60, per_subject: int = 1, positive_every: int = 4) -> list[dict]:
    """Items of ``n_subjects`` subjects, label 1 for every ``positive_every``-th subject (3:1 by default)."""
    return [
        {"image": f"sub-{s:03d}/slice_{j}.nii.gz", "label": int(s % positive_every == 0), "subject": f"sub-{s:03d}"}
        for s in range(n_subjects)
        for j in range(per_subject)
    ]


def fold_map(manifest: dict) -> dict[str, int]:
    return {it["subject"]: it["fold"] for split in SPLITS for it in manifest[split]}


def subjects_of(items: list[dict]) -> set[str]:
    return {it["subject"] for it in items}


@pytest.fixture
def manifest() -> dict:
    return build_manifest("demo", make_items(60, per_subject=3), k=5, seed=7, labels={"0": "LGG", "1": "HGG"})


# ---------------------------------------------------------------- folds


def test_assign_folds_deterministic_and_independent_of_input_order():
    subjects = [f"s{i}" for i in range(40)]
    labels = {s: i % 3 for i, s in enumerate(subjects)}
    first = assign_folds(subjects, 5, seed=3, labels=labels)
    shuffled = subjects[:]
    random.Random(0).shuffle(shuffled)
    assert assign_folds(shuffled, 5, seed=3, labels=labels) == first
    assert assign_folds(subjects, 5, seed=4, labels=labels) != first
    assert list(first) == subjects and set(first.values()) == set(range(5))


@pytest.mark.parametrize("n_pos, n_neg", [(15, 45), (13, 47), (7, 30)])
def test_assign_folds_stratified_within_one_subject_of_ideal(n_pos, n_neg):
    subjects = [f"s{i}" for i in range(n_pos + n_neg)]
    labels = {s: "HGG" if i < n_pos else "LGG" for i, s in enumerate(subjects)}
    folds = assign_folds(subjects, 5, seed=0, labels=labels)
    sizes = Counter(folds.values())
    assert max(sizes.values()) - min(sizes.values()) <= 1
    for label, n in (("HGG", n_pos), ("LGG", n_neg)):
        per_fold = Counter(f for s, f in folds.items() if labels[s] == label)
        assert all(abs(per_fold[f] - n / 5) < 1 for f in range(5)), (label, per_fold)


def test_assign_folds_classes_smaller_than_k():  # scikit-learn's StratifiedGroupKFold refuses this
    subjects = [f"s{i}" for i in range(8)]
    labels = {s: i % 2 for i, s in enumerate(subjects)}
    folds = assign_folds(subjects, 5, seed=0, labels=labels)
    assert sorted(Counter(folds.values()).values()) == [1, 1, 2, 2, 2]
    for label in (0, 1):
        assert max(Counter(f for s, f in folds.items() if labels[s] == label).values()) == 1


@pytest.mark.parametrize(
    "subjects, k, labels, match",
    [
        (["a", "b", "c"], 1, None, ">= 2"),
        (["a", "b", "c"], 5, None, "cannot make 5 folds from 3"),
        (["a", "b", "a"], 2, None, "listed twice"),
        (["a", "b", "c"], 2, {"a": 0, "b": 1}, "no label for 1 subject"),
    ],
)
def test_assign_folds_errors(subjects, k, labels, match):
    with pytest.raises(ValueError, match=match):
        assign_folds(subjects, k, seed=0, labels=labels)


def test_split_subjects_stratified_disjoint_deterministic():
    subjects = [f"s{i}" for i in range(60)]
    labels = {s: int(i % 4 == 0) for i, s in enumerate(subjects)}  # 15 positive, 45 negative
    pool, test = split_subjects(subjects, 0.15, seed=1, labels=labels)
    assert len(test) == 9 and len(pool) == 51 and set(pool).isdisjoint(test) and set(pool) | set(test) == set(subjects)
    assert Counter(labels[s] for s in test) == {0: 7, 1: 2}  # 6.75 and 2.25 -> largest remainder
    assert split_subjects(subjects[::-1], 0.15, seed=1, labels=labels)[1] == test[::-1]
    assert split_subjects(subjects, 0.15, seed=2, labels=labels)[1] != test
    assert split_subjects(subjects, 0.0, seed=1) == (subjects, [])
    with pytest.raises(ValueError, match="test_fraction"):
        split_subjects(subjects, 1.0, seed=1)


# ---------------------------------------------------------------- build


def test_build_manifest_groups_subjects_and_stores_fold_zero_split(manifest):
    assert validate_manifest(manifest) == []
    assert manifest["label_key"] == "label" and manifest["folds"] == 5 and manifest["seed"] == 7
    assert sum(len(manifest[s]) for s in SPLITS) == 180
    assert {it["fold"] for it in manifest["validation"]} == {0}
    assert 0 not in {it["fold"] for it in manifest["training"]}
    assert {it["fold"] for it in manifest["test"]} == {-1}
    assert len(subjects_of(manifest["test"])) == 9
    for split_a in SPLITS:  # every subject in exactly one split, with one fold
        for split_b in SPLITS:
            if split_a != split_b:
                assert subjects_of(manifest[split_a]).isdisjoint(subjects_of(manifest[split_b]))
    folds_per_subject: dict[str, set] = {}
    for split in SPLITS:
        for it in manifest[split]:
            folds_per_subject.setdefault(it["subject"], set()).add(it["fold"])
    assert len(folds_per_subject) == 60 and all(len(f) == 1 for f in folds_per_subject.values())
    assert list(manifest["training"][0]) == ["image", "label", "subject", "fold"]  # item key order kept


def test_build_manifest_is_deterministic_and_respects_test_subjects():
    items = make_items(30)
    first = build_manifest("d", items, seed=1)
    assert fold_map(first) == fold_map(build_manifest("d", items[::-1], seed=1))  # input order does not matter
    assert fold_map(first) != fold_map(build_manifest("d", items, seed=2))
    chosen = build_manifest("d", items, test_subjects=["sub-001", "sub-002"])
    assert subjects_of(chosen["test"]) == {"sub-001", "sub-002"}
    with pytest.raises(ValueError, match="not among the items: sub-999"):
        build_manifest("d", items, test_subjects=["sub-999"])
    with pytest.raises(ValueError, match="item 1 has no 'subject'"):
        build_manifest("d", [{"subject": "a", "image": "a"}, {"image": "b"}])


def test_build_manifest_label_key_resolution():
    segmentation = [{"subject": f"s{i}", "image": f"s{i}_img.nii", "label": f"s{i}_seg.nii"} for i in range(12)]
    assert build_manifest("seg", segmentation, k=3)["label_key"] is None
    named = [{"subject": f"s{i}", "image": f"s{i}.nii", "grade": "HGG" if i % 3 else "LGG"} for i in range(30)]
    m = build_manifest("cls", named, k=5, label_key="grade", path_keys=("image",))
    for f in range(5):
        grades = Counter(it["grade"] for it in select_fold(m, f, "validation"))
        assert abs(grades["LGG"] - len(subjects_of(m["training"] + m["validation"])) / 3 / 5) < 1.01
    with pytest.raises(ValueError, match="label_key 'grade' must hold"):
        build_manifest("cls", [*named, {"subject": "x", "image": "x.nii"}], label_key="grade")


# ---------------------------------------------------------------- files


def test_write_and_load_round_trip_one_item_per_line(manifest, tmp_path):
    path = write_manifest(manifest, tmp_path / "sub" / "demo.json")
    assert load_manifest(path) == json.loads(json.dumps(manifest))
    text = path.read_text()
    assert text.count("\n") < 200 and '"subject": "sub-000"' in text  # 180 items, one line each
    assert [p.name for p in path.parent.iterdir()] == ["demo.json"]  # no temp file left
    bad = dict(manifest, folds=1)
    with pytest.raises(ValueError, match="folds"):
        write_manifest(bad, tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()


def test_load_manifest_errors_are_one_line(manifest, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json: no such file"):
        load_manifest(tmp_path / "nope.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_manifest(tmp_path / "broken.json")
    manifest["training"][0]["fold"] = 9
    manifest["training"][1].pop("subject")
    (tmp_path / "invalid.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError) as info:
        load_manifest(tmp_path / "invalid.json")
    assert "\n" not in str(info.value) and "more" in str(info.value)
    assert load_manifest(tmp_path / "invalid.json", validate=False)["training"][0]["fold"] == 9


def test_ensure_manifest_builds_once_and_reuses(tmp_path):
    path, calls = tmp_path / "folds.json", []

    def build(seed):
        calls.append(seed)
        return build_manifest("demo", make_items(20), seed=seed)

    first = ensure_manifest(path, lambda: build(0))
    mtime = path.stat().st_mtime_ns
    again = ensure_manifest(path, lambda: build(123))
    assert calls == [0] and again == first and path.stat().st_mtime_ns == mtime
    assert build_manifest("demo", make_items(20), seed=123)["validation"] != first["validation"]


# ---------------------------------------------------------------- select


def test_select_fold_partitions_the_pool(manifest):
    pool = manifest["training"] + manifest["validation"]
    pool_keys = sorted(it["image"] for it in pool)
    seen_validation = []
    for f in range(5):
        train = select_fold(manifest, f, "training")
        val = select_fold(manifest, f, "validation")
        assert {it["fold"] for it in val} == {f} and f not in {it["fold"] for it in train}
        assert subjects_of(train).isdisjoint(subjects_of(val))
        assert sorted(it["image"] for it in train + val) == pool_keys
        assert select_fold(manifest, f, "test") == manifest["test"]
        seen_validation += [it["image"] for it in val]
    assert sorted(seen_validation) == pool_keys  # every pool item validated exactly once
    assert select_fold(manifest, 0, "training") == manifest["training"]
    assert select_fold(manifest, None, "validation") == manifest["validation"]
    assert len(select_fold(manifest, 2, "all")) == 180


def test_select_fold_paths_files_and_errors(manifest, tmp_path):
    path = write_manifest(manifest, tmp_path / "m.json")
    items = select_fold(str(path), "3", "validation", dataset_dir=tmp_path / "data")
    assert items and all(it["image"].startswith(str(tmp_path / "data") + "/") for it in items)
    assert all(isinstance(it["label"], int) for it in items)  # int labels are not paths
    assert manifest["validation"][0]["image"].startswith("sub-")  # the caller's dict is untouched
    assert datalist(path, tmp_path, "validation", 3) == select_fold(path, 3, "validation", tmp_path)
    with pytest.raises(ValueError, match="fold 5 out of range"):
        select_fold(manifest, 5)
    with pytest.raises(ValueError, match="split must be one of"):
        select_fold(manifest, 0, "train")
    with pytest.raises(ValueError, match="fold must be an integer"):
        select_fold(manifest, 1.5)


def test_plain_monai_reads_the_default_split(manifest, tmp_path):
    path = write_manifest(manifest, tmp_path / "m.json")
    val = load_decathlon_datalist(path, is_segmentation=False, data_list_key="validation", base_dir=tmp_path)
    assert [it["image"] for it in val] == [it["image"] for it in select_fold(manifest, 0, "validation", tmp_path)]


# ---------------------------------------------------------------- validate


def _one(problems: list[str], needle: str) -> str:
    assert len(problems) == 1, problems
    assert needle in problems[0] and "\n" not in problems[0]
    return problems[0]


def test_validate_missing_files(manifest, tmp_path):
    for it in manifest["training"] + manifest["validation"] + manifest["test"]:
        (tmp_path / it["image"]).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / it["image"]).touch()
    assert validate_manifest(manifest, tmp_path) == []
    gone = manifest["test"][1]
    (tmp_path / gone["image"]).unlink()
    line = _one(validate_manifest(manifest, tmp_path), "missing file")
    assert line == f"missing file: {gone['image']} (test[1], subject {gone['subject']})"
    _one(validate_manifest(manifest, tmp_path / "elsewhere"), "dataset_dir not found")


@pytest.mark.parametrize(
    "corrupt, needle",
    [
        (lambda m: m["test"].append(dict(m["training"][0], subject=m["test"][0]["subject"], fold=-1)), "duplicate"),
        (lambda m: m["test"].append(dict(m["training"][0], image="x.nii", fold=-1)), "in 2 splits (training, test)"),
        (lambda m: m["training"][0].pop("subject"), "training[0]: 'subject' is a required property"),
        (lambda m: m["validation"][0].pop("fold"), "validation[0]: 'fold' is a required property"),
        (lambda m: m["test"][0].update(fold=2), "test[0]: test item has fold 2"),
        (lambda m: m.update(training=[dict(it, fold=7) for it in m["training"][:1]]), "fold 7 out of range 0..4"),
        (lambda m: m["validation"][0].update(image="/abs/x.nii"), "absolute path: /abs/x.nii"),
        (lambda m: m["validation"][0].update(image="../outside/x.nii.gz"), "path escapes dataset_dir: ../outside"),
        (lambda m: m.pop("seed"), "top level: 'seed' is a required property"),
        (lambda m: m.update(training={}), "training: expected array, got dict"),
    ],
)
def test_validate_reports_each_problem_as_one_line(corrupt, needle):
    m = build_manifest("v", make_items(20, per_subject=1), k=5, seed=0, test_fraction=0.2)
    corrupt(m)
    _one(validate_manifest(m), needle)


def test_validate_subject_in_two_folds_with_many_items():
    m = build_manifest("v", make_items(20, per_subject=3), k=5, seed=0)
    item = m["training"][0]
    item["fold"] = 1 if item["fold"] != 1 else 2  # one slice moved: its subject now spans 2 folds
    _one(validate_manifest(m), f"subject {item['subject']} is in 2 folds")
    assert validate_manifest([]) == ["invalid manifest: top level: expected object, got list"]


@pytest.mark.parametrize(
    "item",
    [
        {"subject": "a", "fold": 0},
        {"subject": "a", "fold": -1, "image": "x"},
        {"subject": "", "fold": 0},
        {"subject": "a", "fold": -2},
        {"subject": "a", "fold": True},
        {"subject": 3, "fold": 0},
        {"fold": 0},
        ["a", 0],
    ],
)
def test_item_fast_path_agrees_with_the_schema_file(item):
    """The item checks skip jsonschema for speed; they must accept exactly what the published schema accepts."""
    schema = json.loads((Path(__file__).parents[2] / "data_manifests" / "manifest.schema.json").read_text())
    manifest = {"name": "x", "folds": 2, "seed": 0, "training": [item], "validation": []}
    schema_ok = Draft202012Validator(schema).is_valid(manifest)
    assert schema_ok == (not any(p.startswith("invalid manifest") for p in validate_manifest(manifest)))
