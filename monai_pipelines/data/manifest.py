"""Data manifests: MONAI datalists whose items carry a subject and a cross-validation fold.

Format (data_manifests/README.md, schema ``manifest.schema.json``)::

    {"name", "description", "modality", "labels", "folds": k, "seed", "path_keys", "label_key",
     "training": [...], "validation": [...], "test": [...]}

* every item carries ``subject`` and ``fold``; all items of a subject share one fold and one split;
* ``training`` + ``validation`` are the cross-validation pool, fold in ``[0, k)``; the stored ``validation`` list
  is fold 0 and ``training`` the other folds, so plain MONAI (``load_decathlon_datalist``) reads the default split;
* fold ``f`` selects validation = pool items with ``fold == f`` and training = pool items with ``fold != f``;
* ``test`` items are held out, ``fold == -1``, never in the pool;
* values under ``path_keys`` (default ``["image", "label"]``; a string or a list of strings, other values are not
  paths) are paths relative to a ``dataset_dir`` given at run time;
* ``label_key`` names the item key the folds are stratified by (a class label such as ``0``/``1`` or ``"HGG"``),
  null when there is none; ``labels`` holds class names (``{"0": "LGG", "1": "HGG"}``) or a label-map description.

Folds are drawn once and saved (:func:`ensure_manifest`), as nnU-Net saves ``splits_final.json``.
Ours, not MONAI's: ``monai.data.load_decathlon_datalist`` has no folds or subjects, validates nothing and treats any
string naming an existing file as a path; ``monai.apps.CrossValidation`` splits items, not subjects.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from monai_pipelines.data.folds import assign_folds, split_subjects
from monai_pipelines.utils.atomic_write import write_text_atomic
from monai_pipelines.utils.enums import Keys, Split
from monai_pipelines.utils.errors import InputError

__all__ = [
    "SCHEMA_PATH",
    "build_manifest",
    "datalist",
    "ensure_manifest",
    "load_manifest",
    "select_fold",
    "validate_manifest",
    "write_manifest",
]

logger = logging.getLogger(__name__)

SCHEMA_PATH = Path(__file__).with_name("manifest.schema.json")
SPLITS: tuple[str, ...] = (Split.TRAINING.value, Split.VALIDATION.value, Split.TEST.value)
TEST_FOLD = -1
DEFAULT_PATH_KEYS: tuple[str, ...] = (Keys.IMAGE.value, Keys.LABEL.value)
_TOP_LEVEL_ORDER = ("name", "description", "modality", "labels", "folds", "seed", "path_keys", "label_key")


# ---------------------------------------------------------------- reading items


def _items(manifest: Mapping, split: str) -> list:
    value = manifest.get(split, [])
    return value if isinstance(value, list) else []


def _iter_items(manifest: Mapping) -> Iterator[tuple[str, dict]]:
    """(location such as ``training[3]``, item) for every dict item, in file order."""
    for split in SPLITS:
        for i, item in enumerate(_items(manifest, split)):
            if isinstance(item, dict):
                yield f"{split}[{i}]", item


def _path_keys(manifest: Mapping) -> list[str]:
    keys = manifest.get("path_keys", DEFAULT_PATH_KEYS)
    return [k for k in keys if isinstance(k, str)] if isinstance(keys, list | tuple) else list(DEFAULT_PATH_KEYS)


def _paths(item: Mapping, path_keys: Sequence[str]) -> list[tuple[str, str]]:
    """(key, relative path) pairs of an item: string values, or lists of strings, under ``path_keys``."""
    pairs = []
    for key in path_keys:
        value = item.get(key)
        if isinstance(value, str):
            pairs.append((key, value))
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            pairs.extend((key, v) for v in value)
    return pairs


def _is_fold(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ---------------------------------------------------------------- validation


@lru_cache(maxsize=1)
def _validators() -> tuple[Draft202012Validator, Draft202012Validator]:
    """Validators of the whole schema and of one item (``$defs.item``)."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return Draft202012Validator(schema), Draft202012Validator(schema["$defs"]["item"])


def _where(path: Sequence) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return text or "top level"


def _describe(error: Any, prefix: Sequence = ()) -> str:
    if error.validator == "type":
        message = f"expected {error.validator_value}, got {type(error.instance).__name__}"
    else:
        message = error.message if len(error.message) <= 120 else error.message[:117] + "..."
    return f"invalid manifest: {_where([*prefix, *error.absolute_path])}: {message}"


def _item_ok(item: Any) -> bool:
    """Fast path for ``$defs.item`` (jsonschema takes seconds on 50k items); failures go through the schema."""
    if not isinstance(item, dict):
        return False
    subject, fold = item.get(Keys.SUBJECT), item.get(Keys.FOLD)
    return isinstance(subject, str) and subject != "" and _is_fold(fold) and fold >= TEST_FOLD


def _schema_problems(manifest: Mapping) -> list[str]:
    whole, single = _validators()
    top = {k: [] if k in SPLITS and isinstance(v, list) else v for k, v in manifest.items()}
    problems = [_describe(e) for e in whole.iter_errors(top)]
    for split in SPLITS:
        for i, item in enumerate(_items(manifest, split)):
            if not _item_ok(item):
                problems += [_describe(e, (split, i)) for e in single.iter_errors(item)]
    return problems


def _fold_problems(manifest: Mapping) -> list[str]:
    k = manifest.get("folds")
    k = k if _is_fold(k) and k >= 2 else None
    problems = []
    for where, item in _iter_items(manifest):
        fold, split = item.get(Keys.FOLD), where.split("[")[0]
        if not _is_fold(fold):
            continue  # reported by the schema
        who = f"(subject {item.get(Keys.SUBJECT)})"
        if split == Split.TEST:
            if fold != TEST_FOLD:
                problems.append(f"{where}: test item has fold {fold}, expected {TEST_FOLD} {who}")
        elif k is not None and not 0 <= fold < k:
            problems.append(f"{where}: fold {fold} out of range 0..{k - 1} {who}")
        elif split == Split.VALIDATION and fold != 0:
            problems.append(f"{where}: fold {fold} in the stored validation list, which holds fold 0 only {who}")
        elif split == Split.TRAINING and fold == 0:
            problems.append(f"{where}: fold 0 in the stored training list, which holds folds 1..k-1 only {who}")
    return problems


def _empty_fold_problems(manifest: Mapping) -> list[str]:
    """Folds without a subject (their validation split would be empty); checked on an otherwise valid manifest."""
    k = manifest.get("folds")
    pool = {item.get(Keys.FOLD) for where, item in _iter_items(manifest) if not where.startswith(Split.TEST.value)}
    if not (_is_fold(k) and k >= 2 and pool):
        return []
    return [f"fold {f} has no subject: the validation split of --fold {f} would be empty" for f in range(k)
            if f not in pool]


def _subject_problems(manifest: Mapping) -> list[str]:
    splits: dict[str, list[str]] = {}
    folds: dict[str, set[int]] = {}
    for where, item in _iter_items(manifest):
        subject, fold, split = item.get(Keys.SUBJECT), item.get(Keys.FOLD), where.split("[")[0]
        if not isinstance(subject, str):
            continue  # reported by the schema
        if split not in splits.setdefault(subject, []):
            splits[subject].append(split)
        if split != Split.TEST and _is_fold(fold):
            folds.setdefault(subject, set()).add(fold)
    problems = []
    for subject, names in splits.items():
        if len(names) > 1:
            problems.append(f"subject {subject} is in {len(names)} splits ({', '.join(names)}); a subject has one")
    for subject, found in folds.items():
        if len(found) > 1:
            listed = ", ".join(map(str, sorted(found)))
            problems.append(f"subject {subject} is in {len(found)} folds ({listed}); all its items need one fold")
    return problems


def _duplicate_problems(manifest: Mapping) -> list[str]:
    path_keys, first_seen, problems = _path_keys(manifest), {}, []
    for where, item in _iter_items(manifest):
        paths = tuple(_paths(item, path_keys))
        if not paths:
            continue
        if paths in first_seen:
            described = ", ".join(f"{k}={v}" for k, v in paths)
            problems.append(f"duplicate item: {described} in {first_seen[paths]} and {where}")
        else:
            first_seen[paths] = where
    return problems


def _file_problems(manifest: Mapping, dataset_dir: str | os.PathLike | None) -> list[str]:
    root = Path(dataset_dir).expanduser() if dataset_dir is not None else None
    if root is not None and not root.is_dir():
        return [f"dataset_dir not found: {root}"]
    path_keys, exists, problems = _path_keys(manifest), {}, []
    for where, item in _iter_items(manifest):
        for _, path in _paths(item, path_keys):
            who = f"({where}, subject {item.get(Keys.SUBJECT)})"
            if os.path.isabs(path):
                problems.append(f"absolute path: {path} {who}; paths must be relative to dataset_dir")
            elif os.path.normpath(path).split(os.sep)[0] == os.pardir:
                problems.append(f"path escapes dataset_dir: {path} {who}; paths must stay inside it")
            elif root is not None:
                if path not in exists:
                    exists[path] = (root / path).exists()
                if not exists[path]:
                    problems.append(f"missing file: {path} {who}")
    return problems


def validate_manifest(manifest: dict, dataset_dir: str | os.PathLike | None = None) -> list[str]:
    """Problems with ``manifest``, one sentence each (empty when valid).

    Schema errors, items without subject/fold, folds out of range, a subject in two folds or two splits, duplicate
    items (the same paths twice), absolute paths or paths escaping dataset_dir, a fold without subjects, and, when
    ``dataset_dir`` is given, missing files.
    """
    if not isinstance(manifest, dict):
        return [f"invalid manifest: top level: expected object, got {type(manifest).__name__}"]
    problems = (
        _schema_problems(manifest)
        + _fold_problems(manifest)
        + _subject_problems(manifest)
        + _duplicate_problems(manifest)
    )
    return (problems or _empty_fold_problems(manifest)) + _file_problems(manifest, dataset_dir)


def _raise_if_invalid(manifest: dict, source: str) -> None:
    problems = validate_manifest(manifest)
    if problems:
        more = f" (and {len(problems) - 1} more; `monai-pipelines manifest validate` lists all)" if problems[1:] else ""
        raise InputError(f"{source}: {problems[0]}{more}")


# ---------------------------------------------------------------- building


def _subject_of(index: int, item: Any) -> str:
    if not isinstance(item, Mapping):
        raise InputError(f"item {index} is a {type(item).__name__}, expected a dict")
    subject = item.get(Keys.SUBJECT)
    if subject is None or str(subject) == "":
        raise InputError(f"item {index} has no '{Keys.SUBJECT}'; every item needs the subject it belongs to")
    return str(subject)


def _resolve_label_key(items: list[dict], path_keys: Sequence[str], label_key: str | None) -> str | None:
    """The stratification key: ``label_key`` if given, else "label" when its values are ints, or scalars not paths."""
    if label_key is not None:
        for i, item in enumerate(items):
            value = item.get(label_key)
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise InputError(f"item {i}: label_key {label_key!r} must hold an int or a string, got {value!r}")
        return label_key
    values = [item.get(Keys.LABEL) for item in items]
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return Keys.LABEL.value
    if Keys.LABEL not in path_keys and all(isinstance(v, int | str) and not isinstance(v, bool) for v in values):
        return Keys.LABEL.value
    return None


def _subject_labels(items: list[dict], label_key: str) -> dict[str, Any]:
    """Subject -> its items' most frequent label (ties: the smallest as text)."""
    counts: dict[str, Counter] = {}
    for item in items:
        counts.setdefault(item[Keys.SUBJECT], Counter())[item[label_key]] += 1
    return {s: min(c.items(), key=lambda kv: (-kv[1], str(kv[0])))[0] for s, c in counts.items()}


def build_manifest(
    name: str,
    items: list[dict],
    k: int = 5,
    seed: int = 0,
    test_fraction: float = 0.15,
    test_subjects: Sequence[str] | None = None,
    description: str = "",
    modality: Any = None,
    labels: Any = None,
    path_keys: Sequence[str] = DEFAULT_PATH_KEYS,
    label_key: str | None = None,
) -> dict:
    """A validated manifest: items grouped by subject, a stratified test split, then stratified folds of the rest.

    Args:
        items: datalist items, each with "subject"; any "fold" given is replaced; item order is kept.
        test_subjects: the held-out subjects, instead of drawing ``test_fraction`` of them.
        label_key: key to stratify by; None -> "label" when its values are class labels (ints; or ints/strings when
            "label" is not in ``path_keys``), else no stratification.
    """
    if not isinstance(items, list | tuple) or not items:
        raise InputError(f"manifest {name!r}: no items")
    items = [{**dict(item), Keys.SUBJECT.value: _subject_of(i, item)} for i, item in enumerate(items)]
    for item in items:  # pathlib paths from a builder -> strings
        item.update({k: os.fspath(v) for k, v in item.items() if k in path_keys and isinstance(v, os.PathLike)})
    subjects = list(dict.fromkeys(item[Keys.SUBJECT] for item in items))
    label_key = _resolve_label_key(items, path_keys, label_key)
    subject_labels = _subject_labels(items, label_key) if label_key is not None else None
    if test_subjects is None:
        pool, test = split_subjects(subjects, test_fraction, seed, subject_labels)
    else:
        test = [str(s) for s in test_subjects]
        unknown = sorted(set(test) - set(subjects))
        if unknown:
            raise InputError(f"manifest {name!r}: test subject(s) not among the items: {', '.join(unknown)}")
        pool = [s for s in subjects if s not in set(test)]
    pool_labels = {s: subject_labels[s] for s in pool} if subject_labels is not None else None
    folds = dict.fromkeys(test, TEST_FOLD) | assign_folds(pool, k, seed, pool_labels)
    manifest: dict[str, Any] = {
        "name": name, "description": description, "modality": modality, "labels": labels, "folds": k,
        "seed": seed, "path_keys": list(path_keys), "label_key": label_key,
    }
    manifest.update({split: [] for split in SPLITS})
    for item in items:
        fold = item[Keys.FOLD.value] = folds[item[Keys.SUBJECT]]
        split = Split.TEST if fold == TEST_FOLD else Split.VALIDATION if fold == 0 else Split.TRAINING
        manifest[split.value].append(item)
    _raise_if_invalid(manifest, f"manifest {name!r}")
    return manifest


# ---------------------------------------------------------------- files


def _dumps(manifest: Mapping) -> str:
    """Pretty JSON with one item per line, so a diff shows the items that changed."""
    lines = []
    keys = [k for k in _TOP_LEVEL_ORDER if k in manifest] + [k for k in manifest if k not in _TOP_LEVEL_ORDER]
    for key in keys:
        value = manifest[key]
        if key in SPLITS and isinstance(value, list) and value:
            rows = ",\n".join(f"    {json.dumps(item, ensure_ascii=False)}" for item in value)
            text = f"[\n{rows}\n  ]"
        else:
            text = json.dumps(value, ensure_ascii=False)
        lines.append(f"  {json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def write_manifest(manifest: dict, path: str | os.PathLike) -> Path:
    """Validate and write ``manifest`` atomically (temp file + rename); item key order is kept."""
    path = Path(path).expanduser()
    _raise_if_invalid(manifest, str(path))
    return write_text_atomic(path, _dumps(manifest))


def load_manifest(path: str | os.PathLike, validate: bool = True) -> dict:
    """Read a manifest; ``FileNotFoundError``/``ValueError`` in one line when missing, not JSON, or (with
    ``validate``) invalid."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file") from None
    if validate:
        _raise_if_invalid(manifest, str(path))
    return manifest


def ensure_manifest(path: str | os.PathLike, build: Callable[[], dict]) -> dict:
    """The manifest at ``path``; built with ``build()`` and written only when the file does not exist yet.

    Folds are drawn once and reused by every later run, whatever seed or data the caller has now.
    """
    path = Path(path).expanduser()
    if path.is_file():
        logger.debug("reusing manifest %s", path)
        return load_manifest(path)
    write_manifest(build(), path)
    logger.info("wrote manifest %s", path)
    return load_manifest(path)


# ---------------------------------------------------------------- selecting


def _as_fold(fold: Any, k: int, name: str) -> int:
    if isinstance(fold, bool):
        raise InputError(f"fold must be an integer, got {fold!r}")
    try:
        value = int(fold)
    except (TypeError, ValueError):
        raise InputError(f"fold must be an integer, got {fold!r}") from None
    if value != fold and str(value) != str(fold).strip():
        raise InputError(f"fold must be an integer, got {fold!r}")
    if not 0 <= value < k:
        raise InputError(f"fold {value} out of range: manifest {name!r} has {k} folds (0..{k - 1})")
    return value


def _absolute(item: dict, path_keys: Sequence[str], root: Path | None) -> dict:
    item = copy.deepcopy(item)
    if root is None:
        return item
    for key in path_keys:
        value = item.get(key)
        if isinstance(value, str):
            item[key] = str(root / value)
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            item[key] = [str(root / v) for v in value]
    return item


def select_fold(
    manifest: dict | str | os.PathLike,
    fold: int | None = 0,
    split: str = "training",
    dataset_dir: str | os.PathLike | None = None,
) -> list[dict]:
    """Items of ``split`` ("training", "validation", "test" or "all") when fold ``fold`` is held out for validation.

    ``fold=None`` returns the lists as stored (fold 0's split). Items are copies; their paths are made absolute under
    ``dataset_dir`` when it is given.
    """
    if not isinstance(manifest, dict):
        manifest = load_manifest(manifest)
    split = str(split)
    if split not in (*SPLITS, "all"):
        raise InputError(f"split must be one of training, validation, test, all; got {split!r}")
    stored = {s: _items(manifest, s) for s in SPLITS}
    if fold is None:
        chosen = {**stored, "all": stored[Split.TRAINING] + stored[Split.VALIDATION] + stored[Split.TEST]}
    else:
        k = manifest.get("folds")
        if not _is_fold(k):
            raise InputError(f"manifest {manifest.get('name', '?')!r} has no valid 'folds' (got {k!r})")
        f = _as_fold(fold, k, manifest.get("name", "?"))
        pool = stored[Split.TRAINING] + stored[Split.VALIDATION]
        chosen = {
            Split.TRAINING.value: [it for it in pool if it[Keys.FOLD] != f],
            Split.VALIDATION.value: [it for it in pool if it[Keys.FOLD] == f],
            Split.TEST.value: stored[Split.TEST],
            "all": pool + stored[Split.TEST],
        }
    root = Path(dataset_dir).expanduser() if dataset_dir not in (None, "") else None
    return [_absolute(item, _path_keys(manifest), root) for item in chosen[split]]


def datalist(
    manifest: dict | str | os.PathLike, dataset_dir: str | os.PathLike | None, split: str, fold: int | None = 0
) -> list[dict]:
    """``select_fold`` in the argument order configs use: ``datalist(@manifest, @dataset_dir, split, @fold)``."""
    return select_fold(manifest, fold=fold, split=split, dataset_dir=dataset_dir)
