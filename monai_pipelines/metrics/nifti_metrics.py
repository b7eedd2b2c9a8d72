"""`monai-pipelines metrics --pred PRED --true CT [--mask MASK]`: MAE/RMSE/PSNR/SSIM in HU between two NIfTI files.

The source's ``calculate_metrics(pred_ct=..., true_ct=...)``. The true CT's grid is the reference: a prediction on
another grid (e.g. the MR's) is resampled onto it (outside the prediction's field counts as -1024 HU, air), and
the command says so; a mask on another grid is resampled with nearest neighbour.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
from pathlib import Path

from monai_pipelines.metrics.hu_metrics import SYNTHRAD_HU_RANGE, hu_metrics

__all__ = ["calculate_metrics", "add_parser"]

logger = logging.getLogger("monai_pipelines")

AIR_HU = -1024.0


def calculate_metrics(
    pred_ct: str | os.PathLike,
    true_ct: str | os.PathLike,
    mask: str | os.PathLike | None = None,
    hu_range: tuple[float, float] = SYNTHRAD_HU_RANGE,
    info: dict | None = None,
) -> dict[str, float]:
    """Metrics of :func:`~monai_pipelines.metrics.hu_metrics.hu_metrics` between two files, on ``true_ct``'s grid.

    ``info`` (when given) receives ``resampled`` (bool), ``coverage`` (fraction of the reference grid inside the
    prediction's field), ``mask_resampled`` and the grids as text.
    """
    from monai_pipelines.data.volume_grid import describe_grid, load_volume, resample_to, same_grid

    pred, true = load_volume(pred_ct), load_volume(true_ct)
    details = {"grid": describe_grid(true), "pred_grid": describe_grid(pred), "resampled": False, "coverage": 1.0,
               "mask_resampled": False}
    if not same_grid(pred, true):
        pred, details["coverage"] = resample_to(pred, true, "bilinear", fill=AIR_HU)
        details["resampled"] = True
        logger.info(f"{pred_ct}: on another grid ({details['pred_grid']}) than {true_ct} ({details['grid']}); "
                    f"resampled onto the true CT's grid (covers {100 * details['coverage']:.1f} % of it).")
    mask_array = None
    if mask is not None:
        m = load_volume(mask)
        if not same_grid(m, true):
            m, _ = resample_to(m, true, "nearest")
            details["mask_resampled"] = True
        mask_array = m.as_tensor()[0] > 0
    if info is not None:
        info.update(details)
    return hu_metrics(pred.as_tensor()[0], true.as_tensor()[0], mask_array, hu_range)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``metrics``."""
    parser = subparsers.add_parser(
        "metrics",
        help="MAE/RMSE/PSNR/SSIM in HU between a synthetic CT and the true CT (NIfTI files)",
        description=__doc__,
    )
    parser.add_argument("--pred", required=True, help="synthetic CT in HU (NIfTI)")
    parser.add_argument("--true", required=True, help="true CT in HU (NIfTI); its grid is the reference")
    parser.add_argument("--mask", help="region mask (non-zero inside) for the *_mask metrics, e.g. the body")
    parser.add_argument("--hu-range", nargs=2, type=float, default=list(SYNTHRAD_HU_RANGE), metavar=("LO", "HI"),
                        help="clip both CTs to this window; PSNR/SSIM data range = its width (default -1024 3000)")
    parser.add_argument("--out", help="also write the metrics (and what was resampled) to this JSON file")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    info: dict = {}
    metrics = calculate_metrics(args.pred, args.true, args.mask, tuple(args.hu_range), info)
    if info["resampled"]:
        print(f"note: {args.pred} ({info['pred_grid']}) was resampled onto the grid of {args.true} ({info['grid']})"
              + (f"; it covers {100 * info['coverage']:.1f} % of it, the rest counts as {AIR_HU:.0f} HU"
                 if info["coverage"] < 0.9995 else ""))
    if info["mask_resampled"]:
        print(f"note: {args.mask} was resampled (nearest) onto the grid of {args.true}")
    for suffix, region in (("", "whole volume"), ("_mask", "inside mask")):
        if f"mae{suffix}" in metrics:
            print(f"{region}: MAE {metrics['mae' + suffix]:.2f} HU, RMSE {metrics['rmse' + suffix]:.2f} HU, "
                  f"PSNR {metrics['psnr' + suffix]:.2f} dB, SSIM {metrics['ssim' + suffix]:.4f}")
    if args.out:
        path = Path(args.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"pred": str(args.pred), "true": str(args.true), "mask": args.mask,
                                    "hu_range": list(args.hu_range), **info,
                                    "metrics": {k: v if math.isfinite(v) else None for k, v in metrics.items()}},
                                   indent=2))
    return 0
