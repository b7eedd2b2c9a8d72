"""VolumeSliceDataset at scale: milliseconds per shuffled slice with the decoded-slice cache vs decoding volumes.

Writes ``--pairs`` synthetic (condition, target) pairs of ``--shape`` as compressed NIfTI (int16 HU, as CT is
stored), then reads slices in a shuffled order, as a shuffling DataLoader does, through:

- "decode (2 pairs in memory)": ``slice_cache=False``, the previous data path (the last 2 pairs kept decoded);
- "slice cache": the memory-mapped decoded-slice cache (built once; its build time is shown separately).

The previous path also took each slice with ``np.take(volume, k, axis=-1)``, which copies the whole column-major
volume; the in-memory row compares that with the view the dataset takes now.

    python benchmarks/bench_slice_dataset.py [--pairs 8 --shape 256 256 48 --spatial-size 256 --slices 40]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

from monai_pipelines.data.slice_dataset import VolumeSliceDataset, read_volume

sys.path.insert(0, str(Path(__file__).parent))
from _common import peak_rss_mb, reset_peak_rss, table  # noqa: E402


def write_pairs(folder: Path, pairs: int, shape: tuple[int, int, int]) -> list[dict[str, str]]:
    """Smooth synthetic HU volumes with noise (compresses like CT, unlike pure noise)."""
    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, s, dtype=np.float32) for s in shape], indexing="ij"))
    items = []
    for i in range(pairs):
        body = (np.sqrt((grid**2).sum(0)) < 0.8 + 0.05 * i / max(pairs, 1)).astype(np.float32)
        items.append({"subject": f"s{i}"})
        for key, offset in (("condition", 0.0), ("target", 40.0)):
            hu = -1000 + body * (1040 + offset) + rng.normal(0, 20, shape).astype(np.float32)
            path = folder / key / f"s{i}.nii.gz"
            path.parent.mkdir(parents=True, exist_ok=True)
            nib.save(nib.Nifti1Image(np.round(hu).astype(np.int16), np.eye(4)), str(path))
            items[-1][key] = str(path)
    return items


def ms_per_slice(ds: VolumeSliceDataset, order: list[int], budget_s: float) -> tuple[float, int]:
    """Median ms per item over ``order`` (stopping after ``budget_s``), and how many were read."""
    times = []
    deadline = time.perf_counter() + budget_s
    for i in order:
        start = time.perf_counter()
        ds[i]
        times.append(time.perf_counter() - start)
        if time.perf_counter() > deadline:
            break
    return 1000 * statistics.median(times), len(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--shape", type=int, nargs=3, default=(256, 256, 48))
    parser.add_argument("--spatial-size", type=int, default=256, help="slices resized to this (the bundle's setting)")
    parser.add_argument("--slices", type=int, default=40, help="shuffled slices read per path")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds at most per path (the median is kept)")
    args = parser.parse_args(argv)
    shape = tuple(args.shape)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        items = write_pairs(tmp / "data", args.pairs, shape)
        kwargs = {"spatial_size": args.spatial_size, "cache_dir": tmp / "cache"}
        decoded = VolumeSliceDataset(items, slice_cache=False, **kwargs)  # builds the index (decodes once)
        start = time.perf_counter()
        cached = VolumeSliceDataset(items, **kwargs)  # index present: this is the slice cache build alone
        build_s = time.perf_counter() - start
        order = np.random.default_rng(1).permutation(len(cached))[: args.slices].tolist()
        rows = []
        for name, ds in (("decode (2 pairs in memory)", decoded), ("slice cache (memory-mapped)", cached)):
            reset_peak_rss()
            ms, n = ms_per_slice(ds, order, args.budget)
            rows.append([name, f"{ms:.3f}", n, f"{peak_rss_mb():.0f}"])
        volume = read_volume(items[0]["condition"])
        k = shape[2] // 2
        take = min(timed(lambda: np.take(volume, k, axis=-1).copy()) for _ in range(5))
        view = min(timed(lambda: np.ascontiguousarray(np.moveaxis(volume, -1, 0)[k])) for _ in range(5))
        cache_mb = sum(f.stat().st_size for f in (tmp / "cache").glob("*.npy")) / 2**20
    speed = float(rows[0][1]) / float(rows[1][1])
    print(f"{args.pairs} pairs of {'x'.join(map(str, shape))} int16 .nii.gz, slices resized to {args.spatial_size}, "
          f"{len(cached)} slices, read in shuffled order.\n")
    print(table(["data path", "ms per shuffled slice pair (median)", "slices read", "peak RSS MiB"], rows))
    print(f"\nslice cache: x{speed:.1f} faster per slice; built once in {build_s:.1f} s "
          f"({1000 * build_s / len(cached):.1f} ms per slice), {cache_mb:.0f} MiB on disk.")
    print(f"one slice of a decoded volume in memory: np.take(volume, k, axis=-1) {1000 * take:.2f} ms, "
          f"view along the slice axis {1000 * view:.3f} ms.")


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
