"""Inference seconds and peak memory per real-size volume, through the bundle's own inference.json.

The network is the bundle's at its trained size with random weights (the time does not depend on the weights),
saved with the bundle's run contract as training saves it. Real volumes from ../shared/data/real (README there):

- mri_to_ct_unet3d: the porcine head T2 (256x256x94 at 1x1x2.5 mm -> 256x256x235 at the 1 mm working grid):
  the whole volume in one pass (the default) frozen in fp32, bf16 and bf16 + channels-last, and eager, vs 64^3
  sliding windows with overlap 0.25, alternated in one process after a warm-up, with the network's FLOPs, the
  speed-ups and the outputs' differences;
- mmgan_missing_modality: IXI002 T1 + T2 -> PD (T1 registered onto T2, 130 axial 256^2 slices), the generator in
  bf16 and fp32, registration by the torch backend (the default) and by ITK, inference.json's settings and Phase
  1's, alternated, with the time of registration and of the generator, the PD outputs' difference, and ITK's module
  loading timed once apart;
- ct_phase_pix2pix: the body CT (122x101x112 at 3 mm: 112 axial slices, each resized to the trained 512^2);
- glioma_grade_resnet50_3d: the BraTS 2023 FLAIR (240x240x155 at 1 mm) and the raw clinical TCGA-FG-6692 FLAIR
  (256x224x26 at 0.9x0.9x5.5 mm), each resampled and cropped to the trained 128^3;
- glacier_segmentation: the HKH Landsat-7 tile (169x139, 15 bands) and a 512^2 tile mirrored from it (the HKH
  slices' size), through the 5-fold ensemble with its 8 dihedral TTA transforms (the inference default);
  for these three, fp32, bf16 and bf16 + channels-last alternated in one process after a warm-up of each, with the
  outputs' differences from fp32.

    python benchmarks/bench_inference_real.py [--bundle mri_to_ct_unet3d --repeats 1 --variants ...]
    python benchmarks/bench_inference_real.py --bundle glacier_segmentation [--set backbone=resnet10 ...]
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import peak_rss_mb, reset_peak_rss, table  # noqa: E402
from bench_bundle_engine import parse_overrides  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("MONAI_PIPELINES_REAL_DATA", REPO.parent / "shared" / "data" / "real"))


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "n/a"


def _alternate(labels: list[str], call: Callable[[str], object], repeats: int
               ) -> tuple[dict[str, list[float]], dict[str, float], dict[str, list[str]]]:
    """``call(label)`` for every label, ``repeats`` rounds, the order reversed on every other round: each label's
    wall seconds, peak RSS MiB and load averages before / after."""
    times: dict[str, list[float]] = {label: [] for label in labels}
    peaks, loads = dict.fromkeys(labels, 0.0), {label: [] for label in labels}
    for r in range(repeats):
        for label in labels if r % 2 == 0 else labels[::-1]:
            load = _load()
            reset_peak_rss()
            start = time.perf_counter()
            call(label)
            times[label].append(time.perf_counter() - start)
            peaks[label] = max(peaks[label], peak_rss_mb())
            loads[label].append(f"{load} / {_load()}")
    return times, peaks, loads


#: mri_to_ct variants: label -> inference.json overrides (the first is the reference the outputs are compared with)
MRI_TO_CT_VARIANTS = {
    "whole volume, frozen, fp32 (--amp false --channels_last false)": {"amp": False, "channels_last": False},
    "whole volume, frozen, bf16 (--amp true --channels_last false)": {"amp": True, "channels_last": False},
    "whole volume, frozen, bf16 + channels_last_3d (--amp true --channels_last true)": {"amp": True,
                                                                                       "channels_last": True},
    "whole volume, eager, fp32 (--freeze false --amp false --channels_last false)": {"freeze": False, "amp": False,
                                                                                     "channels_last": False},
    "64^3 windows, overlap 0.25, frozen, fp32 (--whole_volume_max_voxels 0 --amp false --channels_last false)": {
        "whole_volume_max_voxels": 0, "amp": False, "channels_last": False},
}


def default_speed(bundle: str) -> str:
    """The speed settings inference.json of ``bundle`` resolves to by default on this machine's CPU (its own values
    and the standard ids' defaults, evaluated as a command would)."""
    import json

    from monai.bundle import ConfigParser

    from monai_pipelines.bundle.standard_ids import missing_standard_ids

    config = json.loads((REPO / "bundles" / bundle / "configs" / "inference.json").read_text())
    parser = ConfigParser({**missing_standard_ids("inference", config), **config, "device": "cpu"})
    amp, channels_last = (bool(parser.get_parsed_content(key)) for key in ("amp", "channels_last"))
    return f"the bundle's default on this CPU: amp {str(amp).lower()}, channels_last {str(channels_last).lower()}"


def _unet_flop_per_voxel(features: list[int]) -> float:
    """Network FLOPs per computed voxel (PyTorch's FLOP counter on one 32^3 input; the U-Net is linear in voxels)."""
    from torch.utils.flop_counter import FlopCounterMode

    from monai_pipelines.networks import UNet3D

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        UNet3D(features=features).eval()(torch.zeros(1, 1, 32, 32, 32))
    return counter.get_total_flops() / 32**3


def mri_to_ct(tmp: Path, repeats: int, variants: list[str] | None = None) -> None:
    import nibabel as nib
    import numpy as np
    from monai.bundle import run

    from monai_pipelines.bundle import RunContract

    source = REAL / "mr_ct_pair" / "mridir_porcine_head_t2_1mm.nii.gz"
    (ckpt,) = random_weight_checkpoints("mri_to_ct_unet3d", tmp, {})
    features = list(RunContract.load(ckpt)["network_def"]["features"])
    # warm-up on a 96x96x40 corner of the volume (imports, TorchScript, oneDNN), once per variant
    _crop_nifti(source, tmp / "warmup.nii.gz", (slice(80, 176), slice(80, 176), slice(27, 67)))
    labels = [v for v in MRI_TO_CT_VARIANTS if variants is None or v in variants]

    def infer(label: str, path: Path, out: Path) -> None:
        run("inference", config_file=str(REPO / "bundles/mri_to_ct_unet3d/configs/inference.json"),
            logging_file=False, ckpt_path=str(ckpt), input_path=str(path), output_dir=str(out),
            panels=False, **MRI_TO_CT_VARIANTS[label])

    for label in labels:
        infer(label, tmp / "warmup.nii.gz", tmp / "warmup")
    times, peaks, loads = _alternate(labels, lambda label: infer(label, source, tmp / f"out{labels.index(label)}"),
                                     repeats)
    shape = nib.load(str(tmp / "out0" / source.name.replace(".nii.gz", "_synthetic_ct.nii.gz"))).shape
    work = {"whole": 256 * 256 * 240, "windows": 125 * 64**3}  # voxels the network computes (padded / 5x5x5 windows)
    flop = _unet_flop_per_voxel(features)
    reference = statistics.median(times[labels[0]]) if len(labels) > 1 else None
    written = {label: np.asarray(nib.load(str(tmp / f"out{i}" / source.name.replace(".nii.gz", "_synthetic_ct.nii.gz"))
                                         ).dataobj, dtype=np.int32) for i, label in enumerate(labels)}
    rows = []
    for label in labels:
        median = statistics.median(times[label])
        tflop = flop * work["windows" if "windows" in label else "whole"] / 1e12
        diff = np.abs(written[label] - written[labels[0]])
        rows.append([label, f"{median:.1f}", f"x{reference / median:.2f}" if reference else "",
                     f"{tflop:.2f}", f"{tflop * 1e3 / median:.1f}", f"{peaks[label]:.0f}",
                     f"{diff.max()} / {diff.mean():.2f}", "; ".join(loads[label])])
    print(f"{source.name} (256x256x94 -> 256x256x235 at 1 mm, output {shape}), U-Net {features} with random "
          f"weights ({flop / 1e3:.0f} kFLOP per voxel); torch threads {torch.get_num_threads()}; in-process runs of "
          f"the inference command (config parsing, loading, resampling, network, inverse resampling, writing; not the "
          f"interpreter start), alternated, median of {repeats}, after a warm-up run of each variant on a 96x96x40 "
          "crop.\n")
    print(table(["variant", "wall s (median)", "speed-up vs the first row", "network TFLOP",
                 "GFLOP/s over the command", "peak RSS MiB", "output vs the first row: max / mean abs HU",
                 "load average before / after"], rows))
    print(f"\n{default_speed('mri_to_ct_unet3d')}.")


def mmgan(tmp: Path, repeats: int) -> None:
    import json

    import nibabel as nib
    import numpy as np
    from monai.bundle import ConfigWorkflow

    from monai_pipelines.data import ixi
    from monai_pipelines.data.ixi import slicing_record
    from monai_pipelines.inferers import missing_sequence_inferer as msi
    from monai_pipelines.networks.mmgan import MMGANGenerator
    from monai_pipelines.transforms.rigid_registration import rigid_register

    config = REPO / "bundles/mmgan_missing_modality/configs/inference.json"
    default_kwargs = json.loads(config.read_text())["registration_kwargs"]
    itk_kwargs = {**default_kwargs, "backend": "itk"}
    reg = f"registration {json.dumps(default_kwargs)} (inference.json's: torch backend)"
    variants = {f"{reg}, generator bf16 (--amp true)": {"registration_kwargs": default_kwargs, "amp": True},
                f"{reg}, generator fp32 (--amp false)": {"registration_kwargs": default_kwargs, "amp": False},
                f"registration {json.dumps(itk_kwargs)}, generator bf16": {"registration_kwargs": itk_kwargs,
                                                                            "amp": True},
                "registration {} (Phase 1's prepare ixi settings, torch), generator bf16": {"registration_kwargs": {},
                                                                                           "amp": True}}
    if torch.cuda.is_available():  # the registration computes on the inference device: the CPU's for comparison
        cpu_kwargs = {**default_kwargs, "device": "cpu"}
        variants[f"registration {json.dumps(cpu_kwargs)} (on the CPU), generator bf16"] = {
            "registration_kwargs": cpu_kwargs, "amp": True}
    has_itk = importlib.util.find_spec("itk") is not None
    if not has_itk:
        variants = {label: v for label, v in variants.items() if v["registration_kwargs"].get("backend") != "itk"}
    args = {"in_channels": 3, "out_channels": 3, "features": 64, "num_downs": 8}
    (tmp / "run" / "checkpoints").mkdir(parents=True)
    torch.manual_seed(0)
    contract = {"network_def": {"_target_": "monai_pipelines.networks.mmgan.MMGANGenerator", **args, "_ids_": {}},
                "slicing": slicing_record(256), "impute": "zeros"}
    torch.save({"network": MMGANGenerator(**args).state_dict(), "contract": contract},
               tmp / "run" / "checkpoints" / "mmgan_best.pth")
    stages: dict[str, float] = {}
    slices: list[int] = []

    def timed(name, fn):
        def wrapper(*a, **k):
            start = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                stages[name] = stages.get(name, 0.0) + time.perf_counter() - start
        return wrapper

    def counted(volume, size, axis, rotation, needed):
        slices.append(len(needed))
        return ixi.cut_slices(volume, size, axis, rotation, needed)

    msi.register_subject = timed("registration", ixi.register_subject)
    msi.MissingSequenceInferer._synthesise = timed("generator over the slices", msi.MissingSequenceInferer._synthesise)
    msi.cut_slices = counted
    folder = REAL / "ixi"
    # ITK loads its modules at their first use in a process: timed once here, on the volumes subsampled 8 times
    t1 = nib.load(str(folder / "IXI002-Guys-0828-T1.nii.gz"))
    t2 = nib.load(str(folder / "IXI002-Guys-0828-T2.nii.gz"))
    coarse = np.diag([8.0, 8.0, 8.0, 1.0])
    t1_affine = t1.affine @ coarse
    start = time.perf_counter()
    if has_itk:
        rigid_register(np.asarray(t1.dataobj, np.float32)[::8, ::8, ::8],
                       np.asarray(t2.dataobj, np.float32)[::8, ::8, ::8], t1_affine, t2.affine @ coarse,
                       shrink_factors=[1], iterations=2, backend="itk")
    itk_load = time.perf_counter() - start
    parts: dict[str, list[dict[str, float]]] = {label: [] for label in variants}
    labels = list(variants)

    def infer(label: str) -> None:
        stages.clear()
        workflow = ConfigWorkflow(config_file=str(config), workflow_type="infer", run_id="inference",
                                  run_dir=str(tmp / "run"), t1=str(folder / "IXI002-Guys-0828-T1.nii.gz"),
                                  t2=str(folder / "IXI002-Guys-0828-T2.nii.gz"),
                                  output_dir=str(tmp / f"out{labels.index(label)}"), **variants[label])
        workflow.initialize()
        workflow.run()
        workflow.finalize()
        parts[label].append(dict(stages))

    times, peaks, loads = _alternate(labels, infer, repeats)
    pd = {label: nib.load(str(tmp / f"out{i}" / "IXI002-Guys-0828-PD_synth.nii.gz")).get_fdata(dtype=np.float32)
          for i, label in enumerate(labels)}
    rows = []
    for label in labels:
        diff = np.abs(pd[label] - pd[labels[0]])
        rows.append([label, f"{statistics.median(times[label]):.1f}", f"{peaks[label]:.0f}",
                     f"{diff.max():.4f} / {diff.mean():.5f}", "; ".join(loads[label])])
        for stage in parts[label][0]:
            rows.append([f"  of which {stage}", f"{statistics.median(p[stage] for p in parts[label]):.1f}", "", "", ""])
    itk_note = (f"ITK's modules were loaded first, once, on a tiny registration: {itk_load:.1f} s, which a fresh "
                "process pays on top of the ITK row below (the torch backend loads no ITK)." if has_itk else
                "ITK is not installed here: its row is left out.")
    device = "CUDA GPU " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    print(f"IXI002 T1 + T2 -> PD on T2's 256x256x130 grid, MM-GAN generator features 64 with random weights, 256^2 "
          f"slices ({slices[0]} of 130 inside the dilated head mask), sw_batch 8, on the {device}; torch threads "
          f"{torch.get_num_threads()}; in-process runs of the inference config, alternated, median of {repeats}. "
          f"{itk_note}\n")
    print(table(["run", "wall s (median)", "peak RSS MiB", "PD output vs the first row: max / mean abs (0..1 units)",
                 "load average before / after"], rows))
    print(f"\n{default_speed('mmgan_missing_modality')}.")


#: pix2pix, glioma and glacier variants: label -> inference.json overrides (the first is the outputs' reference)
PRECISION_VARIANTS = {
    "fp32 (--amp false --channels_last false)": {"amp": False, "channels_last": False},
    "bf16 (--amp true --channels_last false)": {"amp": True, "channels_last": False},
    "bf16 + channels-last (--amp true --channels_last true)": {"amp": True, "channels_last": True},
}


def random_weight_checkpoints(bundle: str, folder: Path, overrides: dict, members: int = 1) -> list[Path]:
    """Checkpoints as the bundle's training writes them (``network`` and the run contract) with random weights (the
    time does not depend on them): the contract is recorded by the training command's own start (train.json's
    ``initialize``; statistics such as glacier's band_stats fitted on the demo data), one seed per member."""
    from monai.bundle import ConfigWorkflow

    from monai_pipelines.bundle import RunContract
    from monai_pipelines.handlers.training_checkpoint import CONTRACT_KEY

    training = folder / "training"
    ConfigWorkflow(config_file=str(REPO / "bundles" / bundle / "configs" / "train.json"), workflow_type="train",
                   logging_file=False, output_dir=str(training), **overrides).initialize()
    contract = RunContract.load(training / "config" / "contract.json")
    paths = []
    for member in range(members):
        torch.manual_seed(member)
        path = folder / f"fold_{member}" / "checkpoints" / "final_model.pt"
        path.parent.mkdir(parents=True)
        torch.save({"network": contract.network(weights=False).state_dict(), CONTRACT_KEY: contract.to_dict()}, path)
        paths.append(path)
    return paths


def _crop_nifti(source: Path, target: Path, index: slice | tuple[slice, ...]) -> Path:
    """``source``'s voxels at ``index`` (a slice: along its last axis), a warm-up input with the real header."""
    import nibabel as nib
    import numpy as np

    img = nib.load(str(source))
    index = (Ellipsis, index) if isinstance(index, slice) else index
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj)[index], img.affine, img.header), str(target))
    return target


def _mirrored_tile(source: Path, target: Path, size: int) -> Path:
    """A ``size``^2 GeoTIFF of ``source``'s bands mirrored at its edges (real values at the HKH slices' size), with its
    band names, CRS and origin."""
    import numpy as np

    from monai_pipelines.data.geotiff import require_rasterio

    rasterio = require_rasterio()
    with rasterio.open(source) as src:
        bands, profile, names = src.read(), src.profile, src.descriptions
    height, width = bands.shape[1:]
    tile = np.pad(bands, ((0, 0), (0, max(size - height, 0)), (0, max(size - width, 0))), mode="symmetric")
    profile.update(height=size, width=size)
    with rasterio.open(target, "w", **profile) as dst:
        dst.write(tile[:, :size, :size])
        dst.descriptions = names
    return target


def _pix2pix_case(tmp: Path, overrides: dict) -> dict:
    import nibabel as nib
    import numpy as np

    source = REAL / "ct" / "totalseg_example_ct.nii.gz"
    (ckpt,) = random_weight_checkpoints("ct_phase_pix2pix", tmp, overrides)
    size = overrides.get("spatial_size", 512)
    return {
        "about": f"pix2pix generator (train.json's network{', ' + str(overrides) if overrides else ''}) with random "
                 f"weights, every axial slice resized to {size}^2 and back; the command's default report (index.html "
                 "with every slice) included",
        "inputs": [(f"totalseg_example_ct (body CT 122x101x112 at 3 mm: 112 slices at {size}^2)", source)],
        "warmup": _crop_nifti(source, tmp / "warmup.nii.gz", slice(54, 58)),
        "settings": {"ckpt_path": str(ckpt)},
        "output": lambda out, path: np.asarray(nib.load(str(out / path.name.replace(".nii.gz", "_phase0.nii.gz"))
                                                         ).dataobj, dtype=np.float32),
        "unit": "HU",
    }


def _glioma_case(tmp: Path, overrides: dict) -> dict:
    import csv

    import numpy as np

    (ckpt,) = random_weight_checkpoints("glioma_grade_resnet50_3d", tmp, overrides)
    size = overrides.get("image_size", 128)
    raw = REAL / "tcga" / "TCGA-FG-6692_fla.nii.gz"

    def probabilities(out: Path, path: Path) -> np.ndarray:
        with open(out / "predictions.csv") as f:
            return np.array([[float(v) for v in row[1:]] for row in csv.reader(f) if row and Path(row[0]) == path])

    return {
        "about": f"ResNet50-3D (train.json's network{', ' + str(overrides) if overrides else ''}) with random weights, "
                 f"FLAIR resampled to 1 mm and cropped or padded to {size}^3; P(LGG), P(HGG) compared",
        "inputs": [("BraTS-GLI-00001-000 FLAIR (240x240x155 at 1 mm)", REAL / "brats" / "BraTS-GLI-00001-000-t2f.nii.gz"),
                   ("TCGA-FG-6692 FLAIR (raw clinical, 256x224x26 at 0.9x0.9x5.5 mm)", raw)],
        "warmup": raw,
        "settings": {"ckpt_path": str(ckpt)},
        "output": probabilities,
        "unit": "probability",
    }


def _glacier_case(tmp: Path, overrides: dict, tile: int = 512) -> dict:
    import numpy as np

    source = REAL / "hkh" / "LE07_134040_20070922_clip.tif"
    members = random_weight_checkpoints("glacier_segmentation", tmp, overrides, members=5)
    return {
        "about": f"GlacierUNet (train.json's network{', ' + str(overrides) if overrides else ''}), a 5-fold ensemble "
                 "of random-weight members, 8 dihedral TTA transforms each (the inference default), mask GeoTIFF, "
                 "overlay PNG and probabilities written; the ensemble probabilities compared",
        "inputs": [("LE07_134040_20070922_clip (HKH Landsat-7, 169x139, 15 bands)", source),
                   (f"the same mirrored to {tile}x{tile}" + (" (the HKH slices' size)" if tile == 512 else ""),
                    _mirrored_tile(source, tmp / f"tile{tile}.tif", tile))],
        "warmup": source,
        "settings": {"ckpt_paths": [str(p) for p in members], "save_probabilities": True},
        "output": lambda out, path: np.load(out / f"{path.stem}_probs.npy"),
        "unit": "probability",
    }


CASES = {"ct_phase_pix2pix": _pix2pix_case, "glioma_grade_resnet50_3d": _glioma_case,
         "glacier_segmentation": _glacier_case}


def precision_variants(bundle: str, tmp: Path, repeats: int, overrides: dict, **options: int) -> None:
    """fp32, bf16 and bf16 + channels-last inference of ``bundle`` on its real inputs, alternated, per input
    (``options``: the case's own, e.g. glacier's ``tile``)."""
    import numpy as np
    from monai.bundle import run

    case = CASES[bundle](tmp, overrides, **options)
    labels = list(PRECISION_VARIANTS)
    config = str(REPO / "bundles" / bundle / "configs" / "inference.json")

    def infer(label: str, path: Path, out: Path) -> None:
        run("inference", config_file=config, logging_file=False, input_path=str(path), output_dir=str(out),
            **case["settings"], **PRECISION_VARIANTS[label])

    for label in labels:
        infer(label, case["warmup"], tmp / "warmup")
    rows = []
    for name, path in case["inputs"]:
        def out_dir(label: str, path: Path = path) -> Path:
            return tmp / f"{path.stem}_{labels.index(label)}"

        times, peaks, loads = _alternate(labels, lambda label, path=path: infer(label, path, out_dir(label)), repeats)
        reference = case["output"](out_dir(labels[0]), path)
        for label in labels:
            median = statistics.median(times[label])
            diff = np.abs(case["output"](out_dir(label), path) - reference)
            rows.append([name, label, f"{median:.1f}", f"x{statistics.median(times[labels[0]]) / median:.2f}",
                         f"{peaks[label]:.0f}", f"{diff.max():.4g} / {diff.mean():.3g}", "; ".join(loads[label])])
    print(f"{case['about']}; torch threads {torch.get_num_threads()}; in-process runs of the inference command "
          f"(config parsing, loading, preprocessing, network, writing; not the interpreter start), alternated, median "
          f"of {repeats}, after a warm-up run of each variant.\n")
    print(table(["input", "variant", "wall s (median)", "speed-up vs fp32", "peak RSS MiB",
                 f"output vs fp32: max / mean abs ({case['unit']})", "load average before / after"], rows))
    print(f"\n{default_speed(bundle)}.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", choices=["mri_to_ct_unet3d", "mmgan_missing_modality", *CASES],
                        default="mri_to_ct_unet3d")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--variants", nargs="+", choices=list(MRI_TO_CT_VARIANTS), default=None,
                        help="mri_to_ct_unet3d: the variants to run (default: all)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=JSON",
                        help=f"{', '.join(CASES)}: train.json overrides of the network (smaller for a smoke run)")
    parser.add_argument("--tile", type=int, default=512, help="glacier_segmentation: the mirrored tile's side")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # the inference commands' own log lines (input summaries, "writing: ...")
    if not REAL.is_dir():
        print(f"real sample images not found at {REAL} (set MONAI_PIPELINES_REAL_DATA): nothing measured.")
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.bundle == "mri_to_ct_unet3d":
            mri_to_ct(Path(tmp), args.repeats, args.variants)
        elif args.bundle == "mmgan_missing_modality":
            mmgan(Path(tmp), args.repeats)
        else:
            options = {"tile": args.tile} if args.bundle == "glacier_segmentation" else {}
            precision_variants(args.bundle, Path(tmp), args.repeats, parse_overrides(args.set), **options)


if __name__ == "__main__":
    main()
