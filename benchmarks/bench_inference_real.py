"""Inference seconds and peak memory per real-size volume, through the bundle's own inference.json.

The network is the bundle's at its trained size with random weights (the time does not depend on the weights),
saved with the bundle's run contract as training saves it. Real volumes from ../shared/data/real (README there):

- mri_to_ct_unet3d: the porcine head T2 (256x256x94 at 1x1x2.5 mm -> 256x256x235 at the 1 mm working grid),
  64^3 sliding windows, overlap 0.25; eager network vs the frozen copy inference uses (``freeze``), alternated;
- mmgan_missing_modality: IXI002 T1 + T2 -> PD (T1 registered onto T2, 130 axial 256^2 slices), with the time of
  registration and of the generator.

    python benchmarks/bench_inference_real.py [--bundle mri_to_ct_unet3d --repeats 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import peak_rss_mb, reset_peak_rss, table  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("MONAI_PIPELINES_REAL_DATA", REPO.parent / "shared" / "data" / "real"))


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "n/a"


def mri_to_ct(tmp: Path, repeats: int) -> None:
    from monai.bundle import run

    from monai_pipelines.networks import UNet3D

    source = REAL / "mr_ct_pair" / "mridir_porcine_head_t2_1mm.nii.gz"
    features = [16, 32, 64, 128]
    contract = {"network_def": {"_target_": "monai_pipelines.networks.UNet3D", "in_channels": 1, "out_channels": 1,
                                "features": features, "norm": "batch", "_ids_": {"features": "features"}},
                "orientation": "RAS", "spacing": [1.0, 1.0, 1.0], "intensity_percentiles": [0.5, 99.5],
                "hu_window": [-1024.0, 3071.0], "patch_size": [64, 64, 64]}
    torch.manual_seed(0)
    torch.save({"network": UNet3D(features=features).state_dict(), "contract": contract}, tmp / "ckpt.pt")
    rows = []
    for r in range(repeats):
        for freeze in (False, True) if r % 2 == 0 else (True, False):
            load = _load()
            reset_peak_rss()
            start = time.perf_counter()
            run("inference", config_file=str(REPO / "bundles/mri_to_ct_unet3d/configs/inference.json"),
                logging_file=False, ckpt_path=str(tmp / "ckpt.pt"), input_path=str(source),
                output_dir=str(tmp / "out"), panels=False, freeze=freeze)
            rows.append([f"freeze {str(freeze).lower()}", f"{time.perf_counter() - start:.1f}", f"{peak_rss_mb():.0f}",
                         f"{load} / {_load()}"])
    print(f"{source.name} (256x256x94 -> 256x256x235 at 1 mm), U-Net {features}, 64^3 windows, overlap 0.25, "
          f"sw_batch 4; torch threads {torch.get_num_threads()}; in-process runs of the inference command "
          "(config parsing, loading, resampling, windows, inverse resampling, writing; not the interpreter start).\n")
    print(table(["run", "wall s", "peak RSS MiB", "load average before / after"], rows))


def mmgan(tmp: Path, repeats: int) -> None:
    from monai.bundle import ConfigWorkflow

    from monai_pipelines.data import ixi
    from monai_pipelines.data.ixi import slicing_record
    from monai_pipelines.inferers import missing_sequence_inferer as msi
    from monai_pipelines.networks.mmgan import MMGANGenerator

    args = {"in_channels": 3, "out_channels": 3, "features": 64, "num_downs": 8}
    (tmp / "run" / "checkpoints").mkdir(parents=True)
    torch.manual_seed(0)
    contract = {"network_def": {"_target_": "monai_pipelines.networks.mmgan.MMGANGenerator", **args, "_ids_": {}},
                "slicing": slicing_record(256), "impute": "zeros"}
    torch.save({"network": MMGANGenerator(**args).state_dict(), "contract": contract},
               tmp / "run" / "checkpoints" / "mmgan_best.pth")
    stages: dict[str, float] = {}

    def timed(name, fn):
        def wrapper(*a, **k):
            start = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                stages[name] = stages.get(name, 0.0) + time.perf_counter() - start
        return wrapper

    msi.register_subject = timed("registration (ITK, incl. its first use)", ixi.register_subject)
    msi.MissingSequenceInferer._synthesise = timed("generator over the slices", msi.MissingSequenceInferer._synthesise)
    folder = REAL / "ixi"
    rows = []
    for _ in range(repeats):
        stages.clear()
        load = _load()
        reset_peak_rss()
        start = time.perf_counter()
        workflow = ConfigWorkflow(config_file=str(REPO / "bundles/mmgan_missing_modality/configs/inference.json"),
                                  workflow_type="infer", run_id="inference", run_dir=str(tmp / "run"),
                                  t1=str(folder / "IXI002-Guys-0828-T1.nii.gz"),
                                  t2=str(folder / "IXI002-Guys-0828-T2.nii.gz"), output_dir=str(tmp / "out"))
        workflow.initialize()
        workflow.run()
        workflow.finalize()
        total = time.perf_counter() - start
        rows.append(["whole command", f"{total:.1f}", f"{peak_rss_mb():.0f}", f"{load} / {_load()}"])
        rows += [[f"  of which {k}", f"{v:.1f}", "", ""] for k, v in stages.items()]
    print(f"IXI002 T1 + T2 -> PD on T2's 256x256x130 grid, MM-GAN generator features 64, 256^2 slices, sw_batch 8; "
          f"torch threads {torch.get_num_threads()}; in-process runs of the inference config.\n")
    print(table(["run", "wall s", "peak RSS MiB", "load average before / after"], rows))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", choices=["mri_to_ct_unet3d", "mmgan_missing_modality"], default="mri_to_ct_unet3d")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    if not REAL.is_dir():
        print(f"real sample images not found at {REAL} (set MONAI_PIPELINES_REAL_DATA): nothing measured.")
        return
    with tempfile.TemporaryDirectory() as tmp:
        (mri_to_ct if args.bundle == "mri_to_ct_unet3d" else mmgan)(Path(tmp), args.repeats)


if __name__ == "__main__":
    main()
