"""`monai-pipelines prepare ixi --raw DIR --out DIR [--n4] [--size 256] [--workers N] [--shard k/n]`: MM-GAN Phase 1.

On a cluster, n jobs ``--shard 1/n`` ... ``--shard n/n`` prepare disjoint subjects into one ``--out`` folder; then
one ``--manifest-only`` run writes the manifest.
"""

from __future__ import annotations

import argparse
import os

__all__ = ["add_parser", "run_prepare_ixi"]


def _prepare_group(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The sub-commands of ``prepare``, shared by every dataset that registers one (created on first use)."""
    parser = subparsers.choices.get("prepare")
    if parser is None:
        parser = subparsers.add_parser("prepare", help="turn a raw dataset download into training-ready data")
        parser.add_subparsers(dest="dataset", required=True, metavar="DATASET")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise RuntimeError("the 'prepare' command has no dataset sub-commands.")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``prepare ixi``."""
    parser = _prepare_group(subparsers).add_parser(
        "ixi",
        help="IXI T1/T2/PD -> registered (optionally N4-corrected) 3-channel axial slices + manifest",
        description=(
            "Register T1 onto the T2/PD grid, optionally N4-correct, normalise, slice axially and save "
            "{split}/{subject}_{slice}.npy (channels T1, T2, PD) plus manifest.json. Subjects lacking a "
            "sequence are reported and left out; finished subjects are skipped when run again."
        ),
    )
    parser.add_argument("--raw", required=True, help="folder with IXI###-Site-####-{T1,T2,PD}.nii.gz")
    parser.add_argument("--out", required=True, help="output folder (never the raw folder)")
    parser.add_argument("--n4", action="store_true", help="N4 bias field correction inside the head mask")
    parser.add_argument("--size", type=int, default=256, help="slice side after resizing (default 256)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the subject split (default 42)")
    parser.add_argument("--test-fraction", type=float, default=0.15, help="held-out test subjects (default 0.15)")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds of the rest; val = fold 0")
    parser.add_argument("--min-foreground", type=float, default=0.05, help="min head area fraction of a slice")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help=f"subjects prepared in parallel, one process each (default: the cores, {default_workers()})")
    parser.add_argument("--shard", type=parse_shard, default=None, metavar="k/n",
                        help="prepare only shard k of n (1 <= k <= n) of the subjects; no manifest (see --manifest-only)")
    parser.add_argument("--manifest-only", action="store_true",
                        help="prepare nothing; write manifest.json once every shard has finished")
    parser.add_argument("--skip-corrupted", action="store_true",
                        help="leave out subjects with an unusable volume (logged and counted) instead of stopping")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal anyway)")
    parser.set_defaults(func=run_prepare_ixi)


def default_workers() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def parse_shard(text: str) -> tuple[int, int]:
    """``"k/n"`` -> (k, n) with 1 <= k <= n."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard must look like k/n (e.g. 2/8), got {text!r}.") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"--shard k/n needs 1 <= k <= n, got {text!r}.")
    return k, n


def run_prepare_ixi(args: argparse.Namespace) -> int:
    from monai_pipelines.data.ixi import prepare_ixi

    if args.size < 16:
        raise ValueError(f"--size must be at least 16, got {args.size}.")
    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}.")
    if args.shard is not None and args.manifest_only:
        raise ValueError("--shard and --manifest-only exclude each other: the manifest covers every shard.")
    report = prepare_ixi(
        args.raw, args.out, n4=args.n4, size=args.size, seed=args.seed, test_fraction=args.test_fraction,
        folds=args.folds, min_foreground=args.min_foreground, progress=False if args.no_progress else None,
        workers=args.workers, shard=args.shard, manifest_only=args.manifest_only, skip_corrupted=args.skip_corrupted,
    )
    where = f"manifest {report.manifest}" if report.manifest else "no manifest (run --manifest-only after every shard)"
    print(
        f"prepared {len(report.prepared)} subject(s), reused {len(report.reused)}, left out "
        f"{len(report.incomplete)} incomplete"
        + (f", skipped {len(report.skipped)} unusable (skip_corrupted)" if report.skipped else "")
        + f"; {report.slices} slices; {where}"
    )
    return 0
