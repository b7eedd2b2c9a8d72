"""`monai-pipelines manifest validate|show|build`: check a manifest against its files, count a fold's splits, or
build one from a dataset layout (``manifest_build_cli``)."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Mapping
from typing import Any

from monai_pipelines.data.manifest import SPLITS, load_manifest, select_fold, validate_manifest
from monai_pipelines.data.manifest_build_cli import add_build_parser
from monai_pipelines.utils.enums import Keys

__all__ = ["add_parser", "split_counts", "summary_line"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``manifest`` with its ``validate``, ``show`` and ``build`` sub-commands."""
    parser = subparsers.add_parser(
        "manifest", help="validate, inspect or build a data manifest (MONAI datalist with folds)", description=__doc__
    )
    commands = parser.add_subparsers(dest="manifest_command", required=True, metavar="{validate,show,build}")
    validate = commands.add_parser(
        "validate",
        help="report every problem as one line (exit 1), or a one-line summary (exit 0)",
        description="Schema errors, items without subject/fold, folds out of range, a subject in two folds or two "
        "splits, duplicate items and, with --dataset-dir, missing files: one line each, exit code 1.",
    )
    validate.add_argument("file", help="manifest JSON file")
    validate.add_argument("--dataset-dir", dest="dataset_dir", help="folder the manifest's paths are relative to")
    validate.set_defaults(func=_validate)
    show = commands.add_parser("show", help="subjects, items and labels per split for one fold")
    show.add_argument("file", help="manifest JSON file")
    show.add_argument("--fold", type=int, default=0, help="fold held out for validation (default 0)")
    show.set_defaults(func=_show)
    add_build_parser(commands)


def _label_name(manifest: Mapping, value: Any) -> str:
    names = manifest.get("labels")
    if isinstance(names, Mapping) and str(value) in names and isinstance(names[str(value)], str | int):
        return str(names[str(value)])
    return str(value)


def split_counts(manifest: Mapping, fold: int | None = 0) -> dict[str, tuple[int, int, Counter]]:
    """Split -> (subjects, items, label counts per subject) when ``fold`` is held out."""
    label_key = manifest.get("label_key")
    counts = {}
    for split in SPLITS:
        items = select_fold(dict(manifest), fold, split)
        subject_label = {it[Keys.SUBJECT]: it.get(label_key) for it in items} if label_key else {}
        labels = Counter(_label_name(manifest, v) for v in subject_label.values())
        counts[split] = (len({it[Keys.SUBJECT] for it in items}), len(items), labels)
    return counts


def summary_line(manifest: Mapping) -> str:
    """Subjects per split (and items when they differ), as one line starting with 'ok: '."""
    counts = split_counts(manifest, None)
    subjects = sum(c[0] for c in counts.values())
    items = sum(c[1] for c in counts.values())
    line = f"ok: {subjects} subjects, {manifest['folds']} folds, " + " / ".join(
        f"{split} {c[0]}" for split, c in counts.items()
    )
    if items != subjects:
        line += " subjects; items " + " / ".join(f"{split} {c[1]}" for split, c in counts.items())
    return line


def _validate(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.file, validate=False)
    problems = validate_manifest(manifest, args.dataset_dir)
    for problem in problems:
        print(problem)
    if problems:
        return 1
    line = summary_line(manifest)
    print(line + (f"; all files found under {args.dataset_dir}" if args.dataset_dir else ""))
    return 0


def _show(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.file)
    counts = split_counts(manifest, args.fold)
    labels = sorted({name for c in counts.values() for name in c[2]})
    modality = manifest.get("modality")
    print(
        f"{manifest['name']}" + (f" ({modality})" if modality else "")
        + f": {manifest['folds']} folds, seed {manifest['seed']}, fold {args.fold} held out for validation"
    )
    header = f"{'split':<12}{'subjects':>9}{'items':>8}" + "".join(f"{name:>10}" for name in labels)
    print(header)
    for split, (n_subjects, n_items, by_label) in counts.items():
        print(f"{split:<12}{n_subjects:>9}{n_items:>8}" + "".join(f"{by_label[name]:>10}" for name in labels))
    if labels:
        print(f"(label columns count subjects by {manifest['label_key']!r})")
    return 0
