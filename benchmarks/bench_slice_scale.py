"""pix2pix and MM-GAN at their source documents' data scale: the bundle's own training data path (train.json: its
manifest, screening, dataset, caches and DataLoader) over many slices written at run time, against its training step.

- ``--bundle mmgan_missing_modality``: ``--slices`` prepared (3, S, S) float32 slices in the layout ``monai-pipelines
  prepare ixi`` writes (about 20,000 of 256^2 in the MM-GAN document), 100 per subject, folders train/val/test;
- ``--bundle ct_phase_pix2pix``: ``--pairs`` int16 .nii.gz pairs of ``--shape`` in the ``paired`` layout
  (trainA/trainB/testA/testB; the pix2pix document: 80 pairs, 9,062 slices of 512^2).

The run starts twice, as a first run and as a resumed run or the next fold would (the manifest, slice index and slice
cache then exist); then ``--iterations`` training steps, each on the next batch of the run's training loader: the
batch's fetch (the DataLoader, as the engine waits for it) and the bundle's step (its trainer's generator and
discriminator updates in plain PyTorch, as in bench_bundle_engine.py) are timed in turn; medians after
``--warmup`` iterations. The data-wait share is fetch / (fetch + step).

    python benchmarks/bench_slice_scale.py --bundle mmgan_missing_modality [--slices 20000 --size 256]
    python benchmarks/bench_slice_scale.py --bundle ct_phase_pix2pix [--pairs 24 --shape 512 512 100]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from monai_pipelines.utils.paths import CACHE_ENV

sys.path.insert(0, str(Path(__file__).parent))
from _common import endless, resident_mb, sync, table  # noqa: E402
from bench_bundle_engine import REPO, gan_step, parse_overrides  # noqa: E402

SLICES_PER_SUBJECT = 100
MIN_SUBJECTS = 7  # 5 folds of training subjects and the test split
WRITTEN_HERE = ".written_by_bench_slice_scale"  # marks paired volumes written here (their manifest may be removed)


def write_prepared_slices(root: Path, slices: int, size: int) -> None:
    """``slices`` (3, size, size) float32 slices in [0, 1], as ``prepare ixi`` writes them, and their manifest;
    subjects of up to 100 slices (at least 7 subjects), dealt about 70 / 15 / 15 % to train/, val/ and test/."""
    from monai_pipelines.data.ixi import build_ixi_slice_manifest
    from monai_pipelines.data.manifest import write_manifest

    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, size, dtype=np.float32)] * 2, indexing="ij"))
    head = (np.sqrt((grid**2).sum(0)) < 0.8).astype(np.float32)
    subjects = max(MIN_SUBJECTS, -(-slices // SLICES_PER_SUBJECT))
    done: dict[int, int] = {}
    for i in range(slices):
        subject = i * subjects // slices
        z = done[subject] = done.get(subject, -1) + 1
        share = subject / subjects
        folder = "test" if subject == subjects - 1 or share >= 0.85 else \
            "val" if subject == subjects - 2 or share >= 0.70 else "train"
        image = head * np.array([0.3, 0.6, 0.9], np.float32)[:, None, None] + rng.random((3, 1, 1), np.float32) * 0.1
        path = root / folder / f"IXI{subject:03d}-Site-{subject:04d}_{z:03d}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, np.clip(image, 0, 1))
    write_manifest(build_ixi_slice_manifest(root), root / "manifest.json")


def write_paired_volumes(root: Path, pairs: int, shape: tuple[int, int, int]) -> None:
    """``pairs`` (condition, target) int16 HU volumes, as CT is stored, in the ``paired`` layout (the last 2 pairs
    as the test split); smooth bodies with noise, which compress like CT (pure noise would not)."""
    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, s, dtype=np.float32) for s in shape], indexing="ij"))
    radius = np.sqrt((grid**2).sum(0))
    for i in range(pairs):
        split = "test" if i >= pairs - 2 else "train"
        body = (radius < 0.8 + 0.05 * i / pairs).astype(np.float32)
        for folder, offset in (("A", 0.0), ("B", 40.0)):
            hu = -1000 + body * (1040 + offset) + rng.normal(0, 20, shape).astype(np.float32)
            path = root / f"{split}{folder}" / f"case_{i:03d}.nii.gz"
            path.parent.mkdir(parents=True, exist_ok=True)
            nib.save(nib.Nifti1Image(np.round(hu).astype(np.int16), np.eye(4)), str(path))


def folder_gib(root: Path) -> float:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) / 2**30


def start_run(bundle: str, overrides: dict[str, Any]) -> tuple[Any, Any, float]:
    """The bundle's training workflow initialized, its training dataset and loader built: (trainer, loader,
    seconds)."""
    from monai.bundle import ConfigWorkflow

    start = time.perf_counter()
    workflow = ConfigWorkflow(config_file=str(REPO / "bundles" / bundle / "configs" / "train.json"),
                              workflow_type="train", logging_file=False, **overrides)
    workflow.initialize()
    get = workflow.parser.get_parsed_content
    trainer, loader = get("train#trainer"), get("train#dataloader")
    return trainer, loader, time.perf_counter() - start


def child(bundle: str, overrides: dict[str, Any], iterations: int, warmup: int) -> dict[str, Any]:
    """One start of the run in this process, then ``iterations`` timed (fetch, step) pairs after ``warmup``."""
    before = resident_mb()
    trainer, loader, seconds = start_run(bundle, overrides)
    out = {"start_s": seconds, "rss_mib": resident_mb() - before, "items": len(loader.dataset),
           "batch": loader.batch_size, "workers": loader.num_workers, "device": str(trainer.state.device)}
    step, device = gan_step(trainer), trainer.state.device
    batches, fetch, compute = endless(loader), [], []
    for i in range(warmup + iterations if iterations else 0):
        begin = time.perf_counter()
        batch = next(batches)
        fetched = time.perf_counter()
        trainer.state.output = {}  # the step records its losses here, as in the engine
        step(batch)
        sync(device)
        if i >= warmup:
            fetch.append(fetched - begin)
            compute.append(time.perf_counter() - fetched)
    if fetch:
        out.update(fetch_ms=1000 * statistics.median(fetch), step_s=statistics.median(compute), timed=len(fetch))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", choices=("mmgan_missing_modality", "ct_phase_pix2pix"),
                        default="mmgan_missing_modality")
    parser.add_argument("--slices", type=int, default=20000, help="MM-GAN: prepared slices")
    parser.add_argument("--size", type=int, default=256, help="MM-GAN: slice size")
    parser.add_argument("--pairs", type=int, default=24, help=f"pix2pix: volume pairs (at least {MIN_SUBJECTS})")
    parser.add_argument("--shape", type=int, nargs=3, default=(512, 512, 100), help="pix2pix: volume shape")
    parser.add_argument("--iterations", type=int, default=12, help="timed training iterations")
    parser.add_argument("--warmup", type=int, default=2, help="iterations before the timed ones")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=JSON", help="train.json overrides")
    parser.add_argument("--variants", nargs="*", default=[""], metavar="KEY=JSON[,KEY=JSON]",
                        help="train.json overrides per variant, each run as its own processes (e.g. cache_rate=1)")
    parser.add_argument("--data_dir", type=Path, help="write the data here and keep it (default: a temporary folder)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # JSON of (overrides, iterations): one start, timed
    args = parser.parse_args(argv)
    if args.child:
        overrides, iterations = json.loads(args.child)
        print(json.dumps(child(args.bundle, overrides, iterations, args.warmup)))
        return
    if args.pairs < MIN_SUBJECTS or args.slices < MIN_SUBJECTS:
        parser.error(f"--pairs and --slices: at least {MIN_SUBJECTS} (5 folds and a test split)")

    tmp = Path(tempfile.mkdtemp(prefix="bench_slice_scale_"))
    data = args.data_dir or tmp / "data"
    rows = []
    try:
        start = time.perf_counter()
        if not (data / "manifest.json").is_file() and not (data / "trainA").is_dir():
            if args.bundle == "mmgan_missing_modality":
                write_prepared_slices(data, args.slices, args.size)
            else:
                write_paired_volumes(data, args.pairs, tuple(args.shape))
                (data / WRITTEN_HERE).touch()
        written_s, data_gib = time.perf_counter() - start, folder_gib(data)
        for variant in args.variants:
            cache = tmp / "cache"
            shutil.rmtree(cache, ignore_errors=True)
            if (data / WRITTEN_HERE).is_file():  # volumes this benchmark wrote: their manifest is built on first use
                (data / "manifest.json").unlink(missing_ok=True)
            overrides = {"dataset_dir": str(data), "output_dir": str(tmp / "runs"), "epochs": 1, "val_interval": 2,
                         **parse_overrides(args.set), **parse_overrides([p for p in variant.split(",") if p])}
            env = {**os.environ, CACHE_ENV: str(cache)}  # the slice indexes and caches, removed at the end
            runs = []
            for iterations in (0, args.iterations):  # a first run; then a second start with what it left on disk
                command = [sys.executable, __file__, "--bundle", args.bundle, "--warmup", str(args.warmup),
                           "--child", json.dumps([overrides, iterations])]
                done = subprocess.run(command, capture_output=True, text=True, env=env)
                if done.returncode:
                    raise SystemExit(f"{variant or 'default'}: exit {done.returncode}\n{done.stderr[-3000:]}")
                runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            first, second = runs
            share = second["fetch_ms"] / (second["fetch_ms"] + 1000 * second["step_s"])
            rows.append([variant or "defaults", f"{first['start_s']:.1f}", f"{second['start_s']:.1f}",
                         f"{first['rss_mib']:.0f}", f"{folder_gib(cache) if cache.is_dir() else 0:.2f}",
                         f"{second['fetch_ms']:.2f}", f"{second['step_s']:.3f}", f"{100 * share:.2f}"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    what = (f"{args.slices} prepared (3, {args.size}, {args.size}) float32 slices" if args.bundle ==
            "mmgan_missing_modality" else f"{args.pairs} int16 .nii.gz pairs of {'x'.join(map(str, args.shape))}")
    print(f"{args.bundle} train.json (overrides {parse_overrides(args.set) or 'none'}) on {what} ({data_gib:.2f} GiB, "
          f"written in {written_s:.0f} s); {second['items']} training items, batch {second['batch']}, "
          f"{second['workers']} loader workers, device {second['device']}. Every start in a fresh process; medians of "
          f"{second['timed']} iterations after {args.warmup}.\n")
    print(table(["variant", "first start, s", "second start, s", "resident memory of the start, MiB",
                 "slice cache on disk, GiB", "batch fetch, ms", "training step, s", "data wait, %"], rows))
    print("\nA start: the manifest (built on first use for the paired layout), screening every image, the datasets "
          "and their caches (in memory, or the slice cache on disk). The data wait: fetch / (fetch + step).")


if __name__ == "__main__":
    main()
