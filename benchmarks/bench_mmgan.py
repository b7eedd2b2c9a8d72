"""mmgan_missing_modality: MM-GAN generator + discriminator training step, fp32 / bf16 / channels_last / both.

One conditional-GAN iteration in plain PyTorch as the bundle's trainer does it (D on concat(condition, image) with
per-sequence targets, then G with 0.1 * LSGAN + 0.9 * L1 on the missing sequence), Adam, on one fixed random batch
of T1/T2/PD slices with T2 missing; alternated in one process, medians after a warm-up iteration per variant.

    python benchmarks/bench_mmgan.py [--size 128 --batch 4 --features 64 --iterations 3 --repeats 2]
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

from monai_pipelines.engines.amp import network_to_channels_last, to_channels_last
from monai_pipelines.networks.mmgan import MMGANDiscriminator, MMGANGenerator

sys.path.insert(0, str(Path(__file__).parent))
from _common import PEAK_RSS_NOTE, MixedPrecision, network_parser, training_variants  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = network_parser(__doc__, size=128, batch=4)
    parser.add_argument("--features", type=int, default=64)
    args = parser.parse_args(argv)
    num_downs = min(8, int(math.log2(args.size)))
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    image = torch.rand(args.batch, 3, args.size, args.size, generator=g)
    available = torch.tensor([1.0, 0.0, 1.0]).view(1, 3, 1, 1).to(device)  # T2 missing
    image = image.to(device)
    condition = image * available

    def build(channels_last: bool, compiled: bool = False):
        torch.manual_seed(0)
        gen = MMGANGenerator(3, 3, features=args.features, num_downs=num_downs).to(device)
        disc = MMGANDiscriminator(6, 3, features=args.features).to(device)
        a, b = condition, image
        if channels_last:
            gen, disc = network_to_channels_last(gen, 2), network_to_channels_last(disc, 2)
            a, b = to_channels_last(a), to_channels_last(b)
        opt_g = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.999))
        mse, mixed = torch.nn.MSELoss(), MixedPrecision(device)
        g_model, d_model = (torch.compile(gen), torch.compile(disc)) if compiled else (gen, disc)

        def step(precision: str) -> None:
            with mixed.autocast(precision):
                fake = g_model(a)
                imputed = b * available + fake * (1 - available)
                opt_d.zero_grad(set_to_none=True)
                pf = d_model(torch.cat([a, imputed.detach()], 1)).float()
                pr = d_model(torch.cat([a, b], 1)).float()
                loss_d = 0.5 * (mse(pf, available.expand_as(pf)) + mse(pr, torch.ones_like(pr)))
            mixed.backward_step(precision, loss_d, opt_d)
            for p in disc.parameters():
                p.requires_grad_(False)
            opt_g.zero_grad(set_to_none=True)
            with mixed.autocast(precision):
                pf = d_model(torch.cat([a, imputed], 1)).float()
                l1 = ((fake.float() - b).abs() * (1 - available)).mean()
                loss_g = 0.1 * mse(pf, torch.ones_like(pf)) + 0.9 * l1
            mixed.backward_step(precision, loss_g, opt_g)
            for p in disc.parameters():
                p.requires_grad_(True)

        return step

    print(f"MM-GAN generator (num_downs {num_downs}) + discriminator, features {args.features}, input "
          f"{args.batch}x3x{args.size}^2, {args.iterations} iterations x {args.repeats} alternated runs per variant.\n")
    print(training_variants(build, args.batch, args.iterations, args.repeats, args.bf16, device, args.precisions,
                            args.compile))
    print(f"\n{PEAK_RSS_NOTE}.")


if __name__ == "__main__":
    main()
