"""`monai-pipelines visualize --mri MR --ct CT --pred PRED --out panel.png`: the source's ``visualize_results.py``.

Axial, coronal and sagittal centre slices of the MRI, the synthetic CT, the true CT and the |error| map, each drawn
with the voxel aspect of the data (anisotropic voxels are not squashed). The volumes are brought onto one grid
(``--grid``, default the true CT's; the command says what it resampled) and shown in RAS orientation.
"""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "visualize_files"]

AIR_HU = -1024.0


def visualize_files(mri: str, pred: str, out: str, ct: str | None = None, grid: str = "ct", title: str = "") -> list[str]:
    """Write the panel PNG to ``out``; returns one note per volume that had to be resampled."""
    from monai.transforms import Orientation

    from monai_pipelines.data.volume_grid import describe_grid, load_volume, resample_to, same_grid
    from monai_pipelines.handlers.synthesis_panel_writer import plot_synthesis_panel

    paths = {"mri": mri, "pred": pred, "ct": ct}
    volumes = {name: load_volume(path) for name, path in paths.items() if path}
    if grid not in volumes:
        grid = "pred"
    reference = volumes[grid]
    notes = []
    for name, volume in volumes.items():
        if name != grid and not same_grid(volume, reference):
            fill = 0.0 if name == "mri" else AIR_HU
            volumes[name], coverage = resample_to(volume, reference, "bilinear", fill=fill)
            notes.append(f"{paths[name]} ({describe_grid(volume)}) resampled onto the grid of {paths[grid]} "
                         f"({describe_grid(reference)}), covering {100 * coverage:.0f} % of it")
    ras = Orientation(axcodes="RAS", labels=None)
    volumes = {name: ras(volume) for name, volume in volumes.items()}
    plot_synthesis_panel(out, volumes["mri"], volumes["pred"], volumes.get("ct"), title=title)
    return notes


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``visualize``."""
    parser = subparsers.add_parser(
        "visualize",
        help="PNG panel of MRI, synthetic CT, true CT and |error| in three orthogonal views (voxel aspect kept)",
        description=__doc__,
    )
    parser.add_argument("--mri", required=True, help="input MRI (NIfTI)")
    parser.add_argument("--pred", required=True, help="synthetic CT in HU (NIfTI)")
    parser.add_argument("--ct", help="true CT in HU (NIfTI); adds the true CT and |error| columns")
    parser.add_argument("--out", default="panel.png", help="PNG to write (default panel.png)")
    parser.add_argument("--grid", choices=("ct", "pred", "mri"), default="ct",
                        help="whose grid the volumes are shown on (default ct, or pred without --ct)")
    parser.add_argument("--title", default="", help="figure title (default: the prediction's file name)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    title = args.title or Path(args.pred).name
    for note in visualize_files(args.mri, args.pred, args.out, args.ct, args.grid, title):
        print(f"note: {note}")
    print(f"wrote {args.out}")
    return 0
