"""The glacier loader's signed distance maps (the boundary loss's), numba's compiled kernel vs scipy's EDT.

Patches of ``--size`` cut at random from synthetic glacier tiles (the demo data's generator: smooth ice, debris,
lake and background regions), one call per patch as ``SignedDistanceMapsd`` makes them in the loader (4 classes,
the background's maps skipped); both backends alternated in one process, medians of the batch time. The maps are
checked equal bit for bit first.

    python benchmarks/bench_signed_distance.py [--size 64 --batch 32 --repeats 15]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from monai_pipelines.data.synthetic.glacier_tiles import glacier_tile
from monai_pipelines.losses.boundary_loss import signed_distance_maps

sys.path.insert(0, str(Path(__file__).parent))
from _common import table  # noqa: E402

BACKENDS = {"numba (compiled, the default where installed)": "numba", "scipy": "scipy"}
NUM_CLASSES = 4


def patches(size: int, batch: int, tile_size: int, seed: int = 0) -> list[np.ndarray]:
    """``batch`` (1, size, size) int64 label patches at random places of synthetic tiles."""
    rng = np.random.default_rng(seed)
    tiles = [glacier_tile(seed + i, tile_size)[1] for i in range(4)]
    out = []
    for i in range(batch):
        tile = tiles[i % len(tiles)]
        y, x = rng.integers(0, tile.shape[0] - size + 1), rng.integers(0, tile.shape[1] - size + 1)
        out.append(tile[None, y:y + size, x:x + size].astype(np.int64))
    return out


def batch_seconds(labels: list[np.ndarray], backend: str) -> float:
    start = time.perf_counter()
    for label in labels:
        signed_distance_maps(label, NUM_CLASSES, include_background=False, backend=backend)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="patch side (glacier train.json: 64)")
    parser.add_argument("--batch", type=int, default=32, help="patches per batch (glacier train.json: 32)")
    parser.add_argument("--repeats", type=int, default=15, help="timed batches per backend, alternated")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("numba") is None:
        print("numba is not installed (pip install 'monai_pipelines[geo]'): the loader uses scipy; nothing to compare.")
        return
    labels = patches(args.size, args.batch, tile_size=max(128, 2 * args.size))
    for label in labels:  # equal maps; compiles (or loads numba's cache) before timing
        np.testing.assert_array_equal(signed_distance_maps(label, NUM_CLASSES, include_background=False),
                                      signed_distance_maps(label, NUM_CLASSES, include_background=False,
                                                           backend="scipy"))
    times: dict[str, list[float]] = {name: [] for name in BACKENDS}
    names = list(BACKENDS)
    for r in range(args.repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            times[name].append(batch_seconds(labels, BACKENDS[name]))
    medians = {name: statistics.median(values) for name, values in times.items()}
    numba_name, scipy_name = names
    print(f"{args.batch} label patches of {args.size}^2, {NUM_CLASSES} classes (background skipped), one call per "
          f"patch; maps equal bit for bit; {args.repeats} batches per backend, alternated.\n")
    print(table(["backend", "ms per batch (median)", "ms per patch", "batches"],
                [[name, f"{1e3 * m:.2f}", f"{1e3 * m / args.batch:.3f}", len(times[name])]
                 for name, m in medians.items()]))
    print(f"\ncompiled kernel speed-up: x{medians[scipy_name] / medians[numba_name]:.2f}")


if __name__ == "__main__":
    main()
