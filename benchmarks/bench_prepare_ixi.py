"""`prepare ixi` wall time with 1 worker vs N worker processes on synthetic IXI phantom subjects.

Writes ``--subjects`` phantoms (T1 misregistered, bias fields) of ``--shape``, prepares one subject to warm up
(imports and first calls; ITK's modules too where N4 or the ITK registration backend is used), then prepares them
all into fresh folders with 1 worker, N workers, and 1 worker again (the mean of the two 1-worker runs is the baseline, so a
drifting machine load does not favour either side). The N-worker time includes starting the worker processes and
(where processes are spawned, not forked) their own warm-up. Registration settings are the tests' fast ones unless
``--full-registration``.

    python benchmarks/bench_prepare_ixi.py [--subjects 6 --shape 64 64 48 --workers 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from monai_pipelines.data.ixi import prepare_ixi
from monai_pipelines.data.synthetic.ixi_phantom import write_ixi_phantom

sys.path.insert(0, str(Path(__file__).parent))
from _common import table  # noqa: E402

FAST_REG = {"shrink_factors": (2, 1), "sampling": 0.3, "iterations": 40}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=6)
    parser.add_argument("--shape", type=int, nargs=3, default=(64, 64, 48))
    parser.add_argument("--spacing", type=float, nargs=3, default=(3.0, 3.0, 3.0), help="mm (the demo's)")
    parser.add_argument("--size", type=int, default=64, help="slice side of the output")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--full-registration", action="store_true")
    args = parser.parse_args(argv)
    reg = None if args.full_registration else FAST_REG
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_ixi_phantom(tmp / "raw", n_subjects=args.subjects, shape=tuple(args.shape),
                          spacing=tuple(args.spacing))
        write_ixi_phantom(tmp / "warm", n_subjects=2, shape=tuple(args.shape), spacing=tuple(args.spacing), seed=1)
        start = time.perf_counter()
        prepare_ixi(tmp / "warm", tmp / "warm_out", size=args.size, folds=2, test_fraction=0.0, progress=False,
                    registration_kwargs=reg, shard=(1, 2))  # one subject, no manifest
        warm = time.perf_counter() - start
        times = {}
        for run, workers in (("1 worker (first)", 1), (f"{args.workers} workers", args.workers),
                             ("1 worker (again)", 1)):
            start = time.perf_counter()
            prepare_ixi(tmp / "raw", tmp / run.replace(" ", "_"), size=args.size, folds=2, test_fraction=0.0,
                        progress=False, registration_kwargs=reg, workers=workers)
            times[run] = time.perf_counter() - start
    base = (times["1 worker (first)"] + times["1 worker (again)"]) / 2
    rows = [[run, f"{t:.1f}", f"{t / args.subjects:.2f}", f"x{base / t:.2f}"] for run, t in times.items()]
    print(f"{args.subjects} phantom subjects of {'x'.join(map(str, args.shape))}, slices {args.size}^2, "
          f"{'full' if args.full_registration else 'fast test'} registration; each run into a fresh folder.\n")
    print(table(["run", "wall s", "s per subject", "speed-up vs 1 worker (mean)"], rows))
    print(f"\nwarm-up (one subject, the first in this process, not in the table): {warm:.1f} s.")


if __name__ == "__main__":
    main()
