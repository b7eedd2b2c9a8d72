"""Run every benchmark in benchmarks/ at a stated size and write benchmarks/RESULTS.md (one table per bundle).

    python -m benchmarks [--size tiny|default|real] [--output benchmarks/RESULTS.md] [--only BUNDLE ...]

Each script runs in its own process (so one's memory and threads do not colour another's); its markdown output
goes under its bundle's heading with the exact command. ``tiny`` is the smoke test's size; ``default`` takes a few
minutes on a 2-core CPU; ``real`` uses the bundles' own sizes (hours on a CPU). On a CPU without native bf16 the
bf16 variants are real ``torch.autocast`` but emulated, so they are labelled so and run at small sizes only.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import io
import logging
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import PEAK_RSS_NOTE, bf16_label, machine_lines, native_bf16  # noqa: E402

SIZES = ("tiny", "default", "real")

# bundle -> size -> [(caption, script, arguments)]; "real" bf16 runs are dropped where bf16 is emulated.
PLAN: dict[str, dict[str, list[tuple[str, str, list[str]]]]] = {
    "mri_to_ct_unet3d": {
        "tiny": [
            ("3D U-Net, engine vs plain loop and variants", "bench_mri_to_ct_engine.py",
             ["--size", "16", "--features", "2", "4", "8", "16", "--iterations", "3", "--repeats", "1"]),
            ("the bundle's full engine (train.json, real handlers) vs a plain loop", "bench_bundle_engine.py",
             ["--epochs", "2", "--set", "features=[2,4,8,16]", "patch_size=[16,16,16]"]),
            ("CPU bf16 training: tiny convolutions in fp32 vs bf16 throughout", "bench_tiny_convolutions.py",
             ["--bundle", "mri_to_ct_unet3d", "--size", "16", "--batch", "1", "--set", "features=[2,4,8,16]",
              "--iterations", "2", "--repeats", "1"]),
            ("fused vs foreach optimizer", "bench_optimizer.py",
             ["--bundles", "mri_to_ct_unet3d", "--set", "mri_to_ct_unet3d:features=[2,4,8,16]", "--repeats", "2",
              "--step_repeats", "1"]),
        ],
        "default": [
            ("3D U-Net at 48^3, engine vs plain loop, fp32 vs channels_last_3d", "bench_mri_to_ct_engine.py",
             ["--size", "48", "--iterations", "4", "--repeats", "2", "--no-bf16"]),
            ("3D U-Net at 16^3 with bf16 (small: bf16 emulated on an AVX2 CPU is slow)", "bench_mri_to_ct_engine.py",
             ["--size", "16", "--iterations", "3", "--repeats", "2"]),
            ("the bundle's full engine (train.json, real handlers) vs a plain loop, 32^3 patches",
             "bench_bundle_engine.py", ["--epochs", "2", "--set", "patch_size=[32,32,32]"]),
            ("real porcine head MR -> CT inference", "bench_inference_real.py", ["--bundle", "mri_to_ct_unet3d"]),
            ("CPU bf16 training: tiny convolutions in fp32 vs bf16 throughout, 3D U-Net at a 16^3 patch (2^3 bottom)",
             "bench_tiny_convolutions.py", ["--bundle", "mri_to_ct_unet3d", "--size", "16", "--batch", "1",
                                            "--iterations", "5", "--repeats", "4"]),
            ("the optimizers, fused (default) vs foreach", "bench_optimizer.py", ["--bundles", "mri_to_ct_unet3d"]),
        ],
        "real": [
            ("3D U-Net at 64^3 (the bundle's patch)", "bench_mri_to_ct_engine.py",
             ["--size", "64", "--iterations", "10", "--repeats", "3"]),
            ("the bundle's full engine (train.json, real handlers) vs a plain loop, 64^3 patches",
             "bench_bundle_engine.py", ["--epochs", "2"]),
            ("real porcine head MR -> CT inference", "bench_inference_real.py",
             ["--bundle", "mri_to_ct_unet3d", "--repeats", "2"]),
            ("CPU bf16 training: tiny convolutions in fp32 vs bf16 throughout, 3D U-Net at a 16^3 patch (2^3 bottom)",
             "bench_tiny_convolutions.py", ["--bundle", "mri_to_ct_unet3d", "--size", "16", "--batch", "1",
                                            "--iterations", "5", "--repeats", "4"]),
            ("the optimizers, fused (default) vs foreach", "bench_optimizer.py", ["--bundles", "mri_to_ct_unet3d"]),
        ],
    },
    "ct_phase_pix2pix": {
        "tiny": [
            ("pix2pix, engine vs plain loop, and inference", "bench_pix2pix.py",
             ["--size", "32", "--num-downs", "5", "--ngf", "2", "--batch", "1", "--iterations", "3", "--repeats", "1",
              "--inference-size", "32"]),
            ("slice data path (VolumeSliceDataset)", "bench_slice_dataset.py",
             ["--pairs", "2", "--shape", "16", "16", "4", "--spatial-size", "16", "--slices", "6"]),
            ("the training data path at scale: start, memory, data wait", "bench_slice_scale.py",
             ["--bundle", "ct_phase_pix2pix", "--pairs", "7", "--shape", "32", "32", "8", "--set", "spatial_size=32",
              "num_downs=5", "ngf=4", "ndf=4", "--iterations", "2", "--warmup", "1"]),
            ("real CT inference, fp32 vs bf16 vs bf16 + channels-last", "bench_inference_real.py",
             ["--bundle", "ct_phase_pix2pix", "--set", "spatial_size=32", "num_downs=5", "ngf=2"]),
        ],
        "default": [
            ("pix2pix unet_128 (ngf 16) at 128^2, batch 2", "bench_pix2pix.py",
             ["--size", "128", "--num-downs", "7", "--ngf", "16", "--batch", "2", "--iterations", "4", "--repeats",
              "2", "--inference-size", "256"]),
            ("slice data path (VolumeSliceDataset), 8 pairs of 256x256x48", "bench_slice_dataset.py", []),
            ("the training data path at scale: 8 pairs of 512x512x100, unet_512 at 512^2 (the bundle's)",
             "bench_slice_scale.py", ["--bundle", "ct_phase_pix2pix", "--pairs", "8", "--iterations", "4"]),
            ("the bundle's full engine (train.json, real handlers) vs a plain loop, demo network at 64^2",
             "bench_bundle_engine.py", ["--bundle", "ct_phase_pix2pix", "--epochs", "2", "--set", "spatial_size=64",
                                        "num_downs=6", "ngf=16", "ndf=16", "batch_size=8", "num_workers=0"]),
            ("real CT inference: 112 slices at 512^2, unet_512 (the bundle's)", "bench_inference_real.py",
             ["--bundle", "ct_phase_pix2pix"]),
            ("CPU bf16 training: tiny convolutions in fp32 vs bf16 throughout, unet_256 at 256^2, batch 4",
             "bench_tiny_convolutions.py", ["--bundle", "ct_phase_pix2pix", "--size", "256", "--batch", "4", "--set",
                                            "num_downs=8", "--iterations", "2", "--repeats", "4"]),
            ("the optimizers, fused (default) vs foreach", "bench_optimizer.py", ["--bundles", "ct_phase_pix2pix"]),
        ],
        "real": [
            ("pix2pix unet_512 at 512^2, batch 4 (the bundle's)", "bench_pix2pix.py", []),
            ("real CT inference: 112 slices at 512^2, unet_512 (the bundle's)", "bench_inference_real.py",
             ["--bundle", "ct_phase_pix2pix", "--repeats", "2"]),
            ("slice data path (VolumeSliceDataset), 8 pairs of 512x512x100 at 512^2", "bench_slice_dataset.py",
             ["--pairs", "8", "--shape", "512", "512", "100", "--spatial-size", "512"]),
            ("the training data path at the source document's scale: 80 pairs of 512x512x113 (9,040 slices)",
             "bench_slice_scale.py", ["--bundle", "ct_phase_pix2pix", "--pairs", "80", "--shape", "512", "512", "113"]),
            ("the optimizers, fused (default) vs foreach", "bench_optimizer.py", ["--bundles", "ct_phase_pix2pix"]),
        ],
    },
    "mmgan_missing_modality": {
        "tiny": [
            ("MM-GAN training step", "bench_mmgan.py",
             ["--size", "32", "--features", "4", "--batch", "1", "--iterations", "2", "--repeats", "1"]),
            ("prepare ixi, 1 vs 2 workers", "bench_prepare_ixi.py",
             ["--subjects", "3", "--shape", "32", "32", "24", "--spacing", "6", "6", "6", "--size", "32"]),
            ("the training data path at scale: start, memory, data wait", "bench_slice_scale.py",
             ["--bundle", "mmgan_missing_modality", "--slices", "30", "--size", "32", "--set", "features=4",
              "--iterations", "2", "--warmup", "1"]),
        ],
        "default": [
            ("MM-GAN training step at 128^2, features 32, batch 4", "bench_mmgan.py",
             ["--size", "128", "--features", "32", "--batch", "4"]),
            ("prepare ixi, 1 vs 2 workers, 6 demo-size phantom subjects", "bench_prepare_ixi.py", []),
            ("real IXI T1 + T2 -> PD inference", "bench_inference_real.py", ["--bundle", "mmgan_missing_modality"]),
            ("the training data path at scale: 2,000 prepared slices of 256^2, features 64 (the bundle's)",
             "bench_slice_scale.py", ["--bundle", "mmgan_missing_modality", "--slices", "2000", "--iterations", "4",
                                      "--variants", "cache_rate=auto", "cache_rate=0"]),
            ("the bundle's full engine (train.json, real handlers) vs a plain loop, features 16 at the demo's 64^2",
             "bench_bundle_engine.py", ["--bundle", "mmgan_missing_modality", "--epochs", "2", "--set", "features=16"]),
            ("the optimizers, fused (default) vs foreach", "bench_optimizer.py", ["--bundles", "mmgan_missing_modality"]),
        ],
        "real": [
            ("MM-GAN training step at 256^2, features 64, batch 8 (the bundle's)", "bench_mmgan.py",
             ["--size", "256", "--features", "64", "--batch", "8", "--iterations", "5", "--repeats", "3"]),
            ("prepare ixi, 1 vs 2 workers, 6 IXI-size phantom subjects, full registration", "bench_prepare_ixi.py",
             ["--shape", "256", "256", "130", "--spacing", "0.94", "0.94", "1.2", "--size", "256",
              "--full-registration"]),
            ("real IXI T1 + T2 -> PD inference", "bench_inference_real.py",
             ["--bundle", "mmgan_missing_modality", "--repeats", "2"]),
            ("the training data path at the source document's scale: 20,000 prepared slices of 256^2",
             "bench_slice_scale.py", ["--bundle", "mmgan_missing_modality", "--slices", "20000", "--variants",
                                      "cache_rate=auto", "cache_rate=1", "cache_rate=0"]),
            ("the optimizers, fused (default) vs foreach", "bench_optimizer.py", ["--bundles", "mmgan_missing_modality"]),
        ],
    },
    "glioma_grade_resnet50_3d": {
        "tiny": [("ResNet50-3D training step", "bench_glioma.py",
                  ["--size", "16", "--width", "2", "--batch", "1", "--iterations", "2", "--repeats", "1"]),
                 ("real FLAIR inference, fp32 vs bf16 vs bf16 + channels-last", "bench_inference_real.py",
                  ["--bundle", "glioma_grade_resnet50_3d", "--set", "image_size=16", "widths=[2,4,8,16]",
                   "spacing=[4,4,4]"])],
        "default": [("ResNet50-3D (full width) training step at 32^3, batch 2", "bench_glioma.py",
                     ["--size", "32", "--batch", "2"]),
                    ("the bundle's full engine (train.json, real handlers) vs a plain loop, 48^3 volumes",
                     "bench_bundle_engine.py", ["--bundle", "glioma_grade_resnet50_3d", "--epochs", "2", "--set",
                                                "image_size=48"]),
                    ("the optimizers, fused (default) vs foreach", "bench_optimizer.py", ["--bundles", "glioma_grade_resnet50_3d"]),
                    ("real FLAIR inference at 128^3 (the bundle's)", "bench_inference_real.py",
                     ["--bundle", "glioma_grade_resnet50_3d"])],
        "real": [("ResNet50-3D training step at 128^3, batch 4 (the bundle's)", "bench_glioma.py",
                  ["--size", "128", "--batch", "4", "--iterations", "5", "--repeats", "3"]),
                  ("the optimizers, fused (default) vs foreach", "bench_optimizer.py", ["--bundles", "glioma_grade_resnet50_3d"]),
                  ("real FLAIR inference at 128^3 (the bundle's)", "bench_inference_real.py",
                   ["--bundle", "glioma_grade_resnet50_3d", "--repeats", "2"])],
    },
    "glacier_segmentation": {
        "tiny": [("glacier U-Net training step", "bench_glacier.py",
                  ["--size", "32", "--backbone", "resnet10", "--decoder-channels", "16", "8", "8", "4", "4",
                   "--batch", "2", "--iterations", "2", "--repeats", "1"]),
                 ("the loader's signed distance maps, numba vs scipy", "bench_signed_distance.py",
                  ["--size", "32", "--batch", "4", "--repeats", "2"]),
                 ("real Landsat tile inference, fp32 vs bf16 vs bf16 + channels-last", "bench_inference_real.py",
                  ["--bundle", "glacier_segmentation", "--set", "backbone=resnet10", "--tile", "64"])],
        "default": [("glacier ResNet34 U-Net training step at 64^2, batch 8", "bench_glacier.py",
                     ["--size", "64", "--batch", "8"]),
                    ("the bundle's full engine (train.json, real handlers) vs a plain loop, batch 32 of 64^2",
                     "bench_bundle_engine.py", ["--bundle", "glacier_segmentation", "--epochs", "2", "--set",
                                                "val_interval=1"]),
                    ("CPU bf16 training: tiny convolutions in fp32 vs bf16 throughout, batch 32 of 64^2",
                     "bench_tiny_convolutions.py", ["--bundle", "glacier_segmentation", "--size", "64", "--batch", "32",
                                                    "--iterations", "3", "--repeats", "4"]),
                    ("the optimizers, fused (default) vs foreach", "bench_optimizer.py", ["--bundles", "glacier_segmentation"]),
                    ("the loader's signed distance maps, numba vs scipy, batch 32 of 64^2", "bench_signed_distance.py",
                     ["--size", "64", "--batch", "32"]),
                    ("real Landsat tile inference: 5-fold ensemble, 8 TTA transforms, ResNet34 U-Net (the bundle's)",
                     "bench_inference_real.py", ["--bundle", "glacier_segmentation"])],
        "real": [("glacier ResNet34 U-Net training step at 64^2, batch 32 (the bundle's)", "bench_glacier.py",
                  ["--size", "64", "--batch", "32", "--iterations", "5", "--repeats", "3"]),
                  ("the optimizers, fused (default) vs foreach", "bench_optimizer.py", ["--bundles", "glacier_segmentation"]),
                  ("the loader's signed distance maps, numba vs scipy, batch 32 of 64^2", "bench_signed_distance.py",
                   ["--size", "64", "--batch", "32"]),
                  ("the signed distance maps of larger patches, numba vs scipy, batch 8 of 256^2",
                   "bench_signed_distance.py", ["--size", "256", "--batch", "8", "--repeats", "7"]),
                  ("real Landsat tile inference: 5-fold ensemble, 8 TTA transforms, ResNet34 U-Net (the bundle's)",
                   "bench_inference_real.py", ["--bundle", "glacier_segmentation", "--repeats", "3"])],
    },
}


def header(size: str, in_process: bool = False) -> list[str]:
    gpu_note = ("- Every figure here is from the CPU named above; GPU figures: benchmarks/RESULTS_GPU.md "
                "(`bash benchmarks/gpu_check.sh OUT_DIR` on a GPU machine).")
    bf16_note = ("- bf16 rows are real bf16 autocast, as the bundles train (on a CPU, convolutions over inputs 1 wide (2D) "
                 "or at most 2 (3D) along an axis stay fp32: `monai_pipelines/engines/tiny_convolutions.py`); "
                 f"labelled \"{bf16_label()}\""
                 + ("" if native_bf16() else ": this CPU has no native bf16, so they measure emulation, not the "
                    "speed-up a bf16-capable CPU or GPU gives (the package's `amp` computes in fp32 on such a CPU)")
                 + ".")
    return [
        "# Benchmark results",
        "",
        f"Written by `python -m benchmarks --size {size}` on {datetime.date.today().isoformat()}. Every comparison "
        "runs its variants in one process, alternated (the order reversed on every other repeat), and reports "
        "medians of per-iteration times after warm-up; ratios are to fp32 in the same table.",
        "",
        *machine_lines(),
        f"- OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; 1-minute load average at the start "
        f"{_load()} (load / cores: above 1, other jobs shared the cores and absolute times are slower)",
        *(["- `--in-process`: every script ran in this one process (a smoke run; figures not isolated)"]
          if in_process else []),
        gpu_note if not _cuda() else "- GPU figures: see the device named above.",
        bf16_note,
        f"- {PEAK_RSS_NOTE}.",
        "",
    ]


def _load() -> str:
    """The 1-minute load average with the core count (other jobs on a shared machine slow every figure)."""
    return f"{os.getloadavg()[0]:.1f}/{os.cpu_count()}" if hasattr(os, "getloadavg") else "n/a"


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _report(stdout: str) -> str:
    note = f"{PEAK_RSS_NOTE}."  # said once, in the header
    return "\n".join(line for line in stdout.strip().splitlines() if line != note).strip()


def _failed(why: str, details: str) -> str:
    return f"**failed** ({why}):\n\n```\n{details[-3000:]}\n```"


def run_one(script: str, args: list[str]) -> tuple[str, bool, float]:
    """A script's stdout (or its error), whether it succeeded, and its wall time; in its own process."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True, text=True, env=env)
    took = time.perf_counter() - start
    if done.returncode != 0:
        return _failed(f"exit {done.returncode}", done.stderr), False, took
    return _report(done.stdout), True, took


def run_in_process(script: str, args: list[str]) -> tuple[str, bool, float]:
    """As :func:`run_one`, but calling the script's ``main(args)`` in this process (no start-up or import cost per
    script, for the smoke test; the scripts then share memory, threads and warm caches). Logging is left as found
    (a script may silence it for its own process)."""
    spec = importlib.util.spec_from_file_location(f"_benchmark_{Path(script).stem}", HERE / script)
    out = io.StringIO()
    start = time.perf_counter()
    disabled = logging.root.manager.disable
    try:
        if spec is None or spec.loader is None:
            raise FileNotFoundError(f"{HERE / script}: no such benchmark script.")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        with contextlib.redirect_stdout(out):
            module.main(args)
    except (Exception, SystemExit):
        return _failed("raised", traceback.format_exc()), False, time.perf_counter() - start
    finally:
        logging.disable(disabled)
    return _report(out.getvalue()), True, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="default")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--only", nargs="+", choices=sorted(PLAN), help="these bundles only")
    parser.add_argument("--skip", nargs="+", default=[], metavar="SCRIPT",
                        help="leave out these scripts (SCRIPT everywhere, BUNDLE:SCRIPT in one bundle's section)")
    parser.add_argument("--in-process", action="store_true",
                        help="run the scripts in this process (faster start; figures less isolated: smoke tests)")
    args = parser.parse_args(argv)
    run = run_in_process if args.in_process else run_one
    lines = header(args.size, args.in_process)
    ok = True
    for bundle in args.only or PLAN:
        lines += [f"## {bundle}", ""]
        for caption, script, script_args in PLAN[bundle][args.size]:
            skipped = next((s for s in (script, f"{bundle}:{script}") if s in args.skip), None)
            if skipped:
                lines += [f"### {caption}", "", f"not run (`--skip {skipped}`)", ""]
                continue
            if args.size == "real" and not native_bf16() and not _cuda() and "--no-bf16" not in script_args:
                script_args = [*script_args, "--no-bf16"]  # emulated bf16 at real size would take hours
            print(f"[{bundle}] {caption} ...", flush=True)
            load = _load()
            out, success, took = run(script, script_args)
            ok &= success
            command = " ".join(["python", f"benchmarks/{script}", *script_args])
            lines += [f"### {caption}", "", f"`{command}` ({took:.0f} s; load average {load} before, {_load()} after)",
                      "", out, ""]
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text("\n".join(lines))  # partial results survive an interrupted run
    print(f"wrote {args.output}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
