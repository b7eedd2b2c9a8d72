"""`monai-pipelines manifest build {paired,brats,hkh,ixi} DATASET_DIR`: a dataset's published layout -> manifest.

Each sub-command calls the dataset's builder with seeded folds and writes the manifest atomically (temporary file
+ rename), by default to ``DATASET_DIR/manifest.json``. Folds are drawn once and kept (as nnU-Net's
splits_final.json): an existing manifest is never replaced unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

__all__ = ["add_build_parser", "LAYOUTS"]

_EPILOG = "The manifest's paths are relative to DATASET_DIR; give it to a bundle as --dataset_dir and --manifest."


def _paired(args: argparse.Namespace) -> dict:
    from monai_pipelines.data.paired_volumes import build_paired_manifest

    return build_paired_manifest(args.dataset_dir, k=args.folds, seed=args.seed, name=args.name,
                                 skip_corrupted=args.skip_corrupted)


def _brats(args: argparse.Namespace) -> dict:
    from monai_pipelines.data.brats import build_brats_manifest

    kwargs = {"name": args.name} if args.name else {}
    return build_brats_manifest(args.dataset_dir, k=args.folds, seed=args.seed, modalities=args.modalities, **kwargs)


def _hkh(args: argparse.Namespace) -> dict:
    from monai_pipelines.data.hkh import build_hkh_manifest

    manifest = build_hkh_manifest(args.dataset_dir, k=args.folds, seed=args.seed, test_fraction=args.test_fraction,
                                  group_by_tile=not args.by_slice)
    if args.name:
        manifest["name"] = args.name
    return manifest


def _ixi(args: argparse.Namespace) -> dict:
    from monai_pipelines.data.ixi import build_ixi_slice_manifest

    return build_ixi_slice_manifest(args.dataset_dir, folds=args.folds, seed=args.seed, name=args.name)


# layout -> (builder, help, description, default seed)
LAYOUTS: dict[str, tuple[Callable[[argparse.Namespace], dict], str, str, int]] = {
    "paired": (
        _paired,
        "pix2pix paired volumes: trainA/trainB (+ testA/testB), same file names",
        "NIfTI pairs with matching names in trainA/ (condition) and trainB/ (target); testA/testB become the test "
        "split, train pairs get the folds. Names and shapes (from the headers) must match.",
        0,
    ),
    "brats": (
        _brats,
        "BraTS 2018 training layout: HGG/ and LGG/ subject folders -> grade labels, stratified folds",
        "Every subject folder under HGG/ and LGG/ with <subject>_{flair,t1,t1ce,t2}.nii.gz (seg optional); label "
        "0 = LGG, 1 = HGG; folds stratified by grade, no test split (cross-validation).",
        0,
    ),
    "hkh": (
        _hkh,
        "HKH glacier slices (LILA): slice_<tile>_img_<n>.npy with slice_<tile>_mask_<n>.npy",
        "Every image slice with a mask, anywhere under DATASET_DIR; slices of one Landsat tile share a subject "
        "(one fold) unless --by-slice.",
        0,
    ),
    "ixi": (
        _ixi,
        "IXI slices made by `monai-pipelines prepare ixi` ({train,val,test}/IXI..._zzz.npy)",
        "Rebuilds the manifest of a prepared IXI folder from its files; test/ stays the test split and val/ fold 0. "
        "Raw IXI volumes are turned into slices (and a manifest) by `monai-pipelines prepare ixi`.",
        42,
    ),
}


def add_build_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``manifest build`` and one sub-command per known layout."""
    build = commands.add_parser("build", help="build a manifest with seeded folds from a dataset's layout",
                                description=__doc__)
    layouts = build.add_subparsers(dest="layout", required=True, metavar="{" + ",".join(LAYOUTS) + "}")
    for layout, (func, help_text, description, seed) in LAYOUTS.items():
        parser = layouts.add_parser(layout, help=help_text, description=description, epilog=_EPILOG)
        parser.add_argument("dataset_dir", help="the dataset folder")
        parser.add_argument("--out", help="manifest file to write (default DATASET_DIR/manifest.json)")
        parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
        parser.add_argument("--seed", type=int, default=seed, help=f"seed of the folds (default {seed})")
        parser.add_argument("--name", help="manifest name (default: the builder's)")
        parser.add_argument("--force", action="store_true", help="replace an existing manifest (new folds!)")
        if layout == "paired":
            parser.add_argument("--skip-corrupted", action="store_true",
                                help="skip unreadable or mismatched pairs (listed under 'skipped') instead of failing")
        if layout == "brats":
            from monai_pipelines.data.brats import BRATS_MODALITIES

            parser.add_argument("--modalities", nargs="+", default=list(BRATS_MODALITIES), choices=BRATS_MODALITIES,
                                help="modalities every subject must have (default all four)")
        if layout == "hkh":
            parser.add_argument("--test-fraction", type=float, default=0.15,
                                help="held-out test share of the tiles (default 0.15)")
            parser.add_argument("--by-slice", action="store_true",
                                help="folds by slice instead of by Landsat tile (neighbouring slices may then "
                                "straddle folds)")
        parser.set_defaults(func=_run, build=func)


def _run(args: argparse.Namespace) -> int:
    from monai_pipelines.data.manifest import write_manifest
    from monai_pipelines.data.manifest_cli import summary_line

    out = Path(args.out) if args.out else Path(args.dataset_dir) / "manifest.json"
    if out.exists() and not args.force:
        raise ValueError(f"{out}: a manifest exists already and its folds are kept; give --force to draw new ones.")
    if not Path(args.dataset_dir).is_dir():
        raise FileNotFoundError(f"{args.dataset_dir}: dataset folder not found.")
    manifest = args.build(args)
    write_manifest(manifest, out)
    skipped = manifest.get("skipped") or []
    print(f"wrote {out}: {manifest['name']}, seed {manifest['seed']}; {summary_line(manifest).removeprefix('ok: ')}"
          + (f"; {len(skipped)} skipped" if skipped else ""))
    return 0
