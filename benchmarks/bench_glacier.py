"""glacier_segmentation: ResNet34 U-Net with cSE training step, fp32 / bf16 / channels_last / both.

Plain PyTorch step (AdamW, cross-entropy over 4 classes) on one fixed random batch of 7-band tiles, alternated in one
process, medians after a warm-up step per variant. Not included: the bundle's combined loss, whose boundary term
computes signed distance maps of the labels on the CPU inside the step (28.5 ms per batch of 32 at 64^2, 4 classes,
on a 2-core AVX512 CPU; more than the whole 23 ms GPU step measured here on an H200).

    python benchmarks/bench_glacier.py [--size 128 --batch 8 --backbone resnet34 --iterations 3 --repeats 2]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from monai_pipelines.engines.amp import network_to_channels_last, to_channels_last
from monai_pipelines.networks import GlacierUNet

sys.path.insert(0, str(Path(__file__).parent))
from _common import PEAK_RSS_NOTE, MixedPrecision, network_parser, step_optimiser, training_variants  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = network_parser(__doc__, size=128, batch=8)
    parser.add_argument("--backbone", default="resnet34")
    parser.add_argument("--decoder-channels", type=int, nargs=5, default=(256, 128, 64, 32, 16),
                        help="decoder widths (default: the bundle's)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 7, args.size, args.size, generator=g)
    y = torch.randint(0, 4, (args.batch, args.size, args.size), generator=g)

    def build(channels_last: bool, compiled: bool = False):
        torch.manual_seed(0)
        net = GlacierUNet(7, 4, backbone=args.backbone, decoder_channels=tuple(args.decoder_channels))
        net, inputs, targets = net.to(device), x.to(device), y.to(device)
        if channels_last:
            net, inputs = network_to_channels_last(net, 2), to_channels_last(inputs)
        opt, mixed = step_optimiser(net), MixedPrecision(device)
        model = torch.compile(net) if compiled else net

        def step(precision: str) -> None:
            opt.zero_grad(set_to_none=True)
            with mixed.autocast(precision):
                loss = torch.nn.functional.cross_entropy(model(inputs).float(), targets)
            mixed.backward_step(precision, loss, opt)

        return step

    print(f"GlacierUNet {args.backbone}, decoder {tuple(args.decoder_channels)}, input {args.batch}x7x{args.size}^2, {args.iterations} steps x "
          f"{args.repeats} alternated runs per variant.\n")
    print(training_variants(build, args.batch, args.iterations, args.repeats, args.bf16, device, args.precisions,
                            args.compile))
    print(f"\n{PEAK_RSS_NOTE}.")


if __name__ == "__main__":
    main()
