"""`monai-pipelines prepare ixi --raw DIR --out DIR [--n4] [--size 256] [--seed 42]`: Phase 1 of the MM-GAN study."""

from __future__ import annotations

import argparse

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
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal anyway)")
    parser.set_defaults(func=run_prepare_ixi)


def run_prepare_ixi(args: argparse.Namespace) -> int:
    from monai_pipelines.data.ixi import prepare_ixi

    if args.size < 16:
        raise ValueError(f"--size must be at least 16, got {args.size}.")
    report = prepare_ixi(
        args.raw, args.out, n4=args.n4, size=args.size, seed=args.seed, test_fraction=args.test_fraction,
        folds=args.folds, min_foreground=args.min_foreground, progress=False if args.no_progress else None,
    )
    print(
        f"prepared {len(report.prepared)} subject(s), reused {len(report.reused)}, left out "
        f"{len(report.incomplete)} incomplete; {report.slices} slices; manifest {report.manifest}"
    )
    return 0
