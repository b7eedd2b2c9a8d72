"""glioma_grade_resnet50_3d: ResNet50-3D (MedicalNet geometry) training step, fp32 / bf16 / channels_last_3d / both.

Plain PyTorch step (AdamW, cross-entropy on the logits; the bundle's LDAM loss costs the same) on one fixed random
batch, alternated in one process, medians after a warm-up step per variant.

    python benchmarks/bench_glioma.py [--size 32 --batch 2 --width 64 --iterations 3 --repeats 2]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from monai_pipelines.engines.amp import network_to_channels_last, to_channels_last
from monai_pipelines.networks import resnet50_3d

sys.path.insert(0, str(Path(__file__).parent))
from _common import PEAK_RSS_NOTE, MixedPrecision, network_parser, step_optimiser, training_variants  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = network_parser(__doc__, size=32, batch=2)
    parser.add_argument("--width", type=int, default=64, help="first stage width (64 in the bundle)")
    args = parser.parse_args(argv)
    widths = tuple(args.width * 2**i for i in range(4))
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 1, args.size, args.size, args.size, generator=g)
    y = torch.arange(args.batch) % 2

    def build(channels_last: bool, compiled: bool = False):
        torch.manual_seed(0)
        net = resnet50_3d(num_classes=2, widths=widths, head="cosine")
        net, inputs, targets = net.to(device), x.to(device), y.to(device)
        if channels_last:
            net, inputs = network_to_channels_last(net, 3), to_channels_last(inputs)
        opt, mixed = step_optimiser(net), MixedPrecision(device)
        model = torch.compile(net) if compiled else net

        def step(precision: str) -> None:
            opt.zero_grad(set_to_none=True)
            with mixed.autocast(precision):
                loss = torch.nn.functional.cross_entropy(model(inputs).float(), targets)
            mixed.backward_step(precision, loss, opt)

        return step

    print(f"ResNet50-3D widths {widths}, input {args.batch}x1x{args.size}^3, {args.iterations} steps x "
          f"{args.repeats} alternated runs per variant.\n")
    print(training_variants(build, args.batch, args.iterations, args.repeats, args.bf16, device, args.precisions,
                            args.compile))
    print(f"\n{PEAK_RSS_NOTE}.")


if __name__ == "__main__":
    main()
