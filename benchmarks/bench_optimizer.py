"""The bundles' optimizers, fused (``fused_optimizer``, the default on CPUs and CUDA) vs torch's default (foreach)
implementation: the optimizer step alone for every optimizer of every bundle (a GAN's two), and a whole training step
(forward, backward, optimizer) for the supervised networks with fast steps, in the bundle's own precision and memory
format on this device. Each bundle's networks and optimizers are built from its train.json as training builds them
(once per variant, same seed), gradients are the same random values for both; variants alternated in one process,
medians after a warm-up step.

    python benchmarks/bench_optimizer.py [--bundles mri_to_ct_unet3d glacier_segmentation --repeats 15]
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import sync, table  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BUNDLES = ["mri_to_ct_unet3d", "ct_phase_pix2pix", "mmgan_missing_modality", "glioma_grade_resnet50_3d",
           "glacier_segmentation"]
#: whole training steps measured (bundle -> input shape of its network): the supervised bundles with fast steps
STEP_INPUTS = {"mri_to_ct_unet3d": (1, 1, 64, 64, 64), "glacier_segmentation": (32, 7, 64, 64)}
VARIANTS = {"fused (default)": "true", "foreach (--fused_optimizer false)": "false"}


def optimizer_ids(config: dict) -> list[str]:
    """The ids of a train.json whose component is an optimizer (not a scheduler)."""
    return [key for key, value in config.items() if isinstance(value, dict) and (
        str(value.get("_target_", "")).startswith("torch.optim.") and "lr_scheduler" not in value["_target_"]
        or str(value.get("_target_", "")).endswith("build_optimizer"))]


def build(bundle: str, fused: str, tmp: str, overrides: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The bundle's parser and its optimizers (id -> optimizer) with ``fused_optimizer`` set."""
    from monai.bundle import ConfigParser

    config = json.loads((REPO / "bundles" / bundle / "configs" / "train.json").read_text())
    torch.manual_seed(0)
    parser = ConfigParser({**config, "output_dir": tmp, "fused_optimizer": fused, **overrides})
    parser.get_parsed_content("run_context")
    return parser, {key: parser.get_parsed_content(key) for key in optimizer_ids(config)}


def _gradients(optimizer: torch.optim.Optimizer, seed: int = 1) -> None:
    generator = torch.Generator().manual_seed(seed)
    for group in optimizer.param_groups:
        for p in group["params"]:
            p.grad = (torch.randn(p.shape, generator=generator) * 1e-3).to(p.device, p.dtype)


def training_step(network: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, amp: bool,
                  dtype: str | None) -> None:
    """Forward (the bundle's autocast), a mean-square loss, backward, the optimizer's step."""
    from monai_pipelines.engines.amp import autocast

    optimizer.zero_grad(set_to_none=True)
    with autocast(x.device, amp, dtype):
        out = network(x)
    out = out[0] if isinstance(out, (list, tuple)) else out
    out.float().square().mean().backward()
    optimizer.step()


def _in_channels(network: torch.nn.Module) -> int:
    return next(m.in_channels for m in network.modules() if hasattr(m, "in_channels"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", nargs="+", choices=BUNDLES, default=BUNDLES)
    parser.add_argument("--repeats", type=int, default=15, help="alternated optimizer steps per variant")
    parser.add_argument("--step_repeats", type=int, default=6, help="alternated training steps per variant")
    parser.add_argument("--set", nargs="*", default=[], metavar="BUNDLE:KEY=JSON",
                        help="config overrides of one bundle (e.g. glioma_grade_resnet50_3d:image_size=48)")
    args = parser.parse_args(argv)
    overrides: dict[str, dict[str, Any]] = {}
    for item in args.set:
        bundle, _, pair = item.partition(":")
        key, _, value = pair.partition("=")
        overrides.setdefault(bundle, {})[key] = json.loads(value)
    from monai_pipelines.engines.amp import to_channels_last

    rows, step_rows, device = [], [], None
    with tempfile.TemporaryDirectory() as tmp:
        for bundle in args.bundles:
            built = {label: build(bundle, fused, tmp, overrides.get(bundle, {})) for label, fused in VARIANTS.items()}
            first_parser = built[next(iter(VARIANTS))][0]
            device = first_parser.get_parsed_content("device")
            for key in built[next(iter(VARIANTS))][1]:
                optimizers = {label: optimizers[key] for label, (_, optimizers) in built.items()}
                for optimizer in optimizers.values():
                    _gradients(optimizer)
                    optimizer.step()  # warm-up (creates the state)
                times: dict[str, list[float]] = {label: [] for label in optimizers}
                labels = list(optimizers)
                for r in range(args.repeats):
                    for label in labels if r % 2 == 0 else labels[::-1]:
                        sync(device)
                        start = time.perf_counter()
                        optimizers[label].step()
                        sync(device)
                        times[label].append(time.perf_counter() - start)
                fused_t, foreach_t = (statistics.median(times[label]) for label in labels)
                params = [p for group in optimizers[labels[0]].param_groups for p in group["params"]]
                rows.append([f"{bundle} {key} ({type(optimizers[labels[0]]).__name__})",
                             f"{sum(p.numel() for p in params) / 1e6:.1f} M in {len(params)}",
                             f"{1e3 * fused_t:.2f}", f"{1e3 * foreach_t:.2f}", f"x{foreach_t / fused_t:.2f}"])
            if bundle not in STEP_INPUTS:
                continue
            amp, dtype = first_parser.get_parsed_content("amp"), first_parser.get_parsed_content("amp_dtype")
            channels_last = first_parser.get_parsed_content("channels_last")
            steps = {}
            for label, (variant_parser, optimizers) in built.items():
                network, optimizer = variant_parser.get_parsed_content("network"), next(iter(optimizers.values()))
                x = torch.randn(STEP_INPUTS[bundle][:1] + (_in_channels(network),) + STEP_INPUTS[bundle][2:],
                                device=device)
                x = to_channels_last(x) if channels_last else x
                network.train()
                steps[label] = functools.partial(training_step, network, optimizer, x, amp, dtype)
                steps[label]()
            times = {label: [] for label in steps}
            labels = list(steps)
            for r in range(args.step_repeats):
                for label in labels if r % 2 == 0 else labels[::-1]:
                    sync(device)
                    start = time.perf_counter()
                    steps[label]()
                    sync(device)
                    times[label].append(time.perf_counter() - start)
            fused_t, foreach_t = (statistics.median(times[label]) for label in labels)
            precision = f"{'bf16' if amp else 'fp32'}{' + channels-last' if channels_last else ''}"
            step_rows.append([f"{bundle}, input {'x'.join(map(str, STEP_INPUTS[bundle]))}, {precision}",
                              f"{fused_t:.3f}", f"{foreach_t:.3f}", f"x{foreach_t / fused_t:.3f}"])
    print(f"device {device}, torch threads {torch.get_num_threads()}; optimizer steps: {args.repeats} per variant, "
          f"training steps: {args.step_repeats}, alternated, medians after a warm-up step.\n")
    print(table(["optimizer (train.json id)", "parameters (tensors)", "fused ms (median)", "foreach ms (median)",
                 "fused speed-up"], rows))
    if step_rows:
        print("\nWhole training step (forward, backward, optimizer; the bundle's precision and memory format here):\n")
        print(table(["network", "fused s/step (median)", "foreach s/step (median)", "fused speed-up"], step_rows))


if __name__ == "__main__":
    main()
