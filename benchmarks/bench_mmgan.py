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
from _common import PEAK_RSS_NOTE, cpu_autocast, network_parser, training_variants  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = network_parser(__doc__, size=128, batch=4)
    parser.add_argument("--features", type=int, default=64)
    args = parser.parse_args(argv)
    num_downs = min(8, int(math.log2(args.size)))
    g = torch.Generator().manual_seed(0)
    image = torch.rand(args.batch, 3, args.size, args.size, generator=g)
    available = torch.tensor([1.0, 0.0, 1.0]).view(1, 3, 1, 1)  # T2 missing
    condition = image * available

    def build(channels_last: bool):
        torch.manual_seed(0)
        gen = MMGANGenerator(3, 3, features=args.features, num_downs=num_downs)
        disc = MMGANDiscriminator(6, 3, features=args.features)
        a, b = condition, image
        if channels_last:
            gen, disc = network_to_channels_last(gen, 2), network_to_channels_last(disc, 2)
            a, b = to_channels_last(a), to_channels_last(b)
        opt_g = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.999))
        mse = torch.nn.MSELoss()

        def step(bf16: bool) -> None:
            with cpu_autocast(bf16):
                fake = gen(a)
                imputed = b * available + fake * (1 - available)
                opt_d.zero_grad(set_to_none=True)
                pf = disc(torch.cat([a, imputed.detach()], 1)).float()
                pr = disc(torch.cat([a, b], 1)).float()
                loss_d = 0.5 * (mse(pf, available.expand_as(pf)) + mse(pr, torch.ones_like(pr)))
            loss_d.backward()
            opt_d.step()
            for p in disc.parameters():
                p.requires_grad_(False)
            opt_g.zero_grad(set_to_none=True)
            with cpu_autocast(bf16):
                pf = disc(torch.cat([a, imputed], 1)).float()
                l1 = ((fake.float() - b).abs() * (1 - available)).mean()
                loss_g = 0.1 * mse(pf, torch.ones_like(pf)) + 0.9 * l1
            loss_g.backward()
            opt_g.step()
            for p in disc.parameters():
                p.requires_grad_(True)

        return step

    print(f"MM-GAN generator (num_downs {num_downs}) + discriminator, features {args.features}, input "
          f"{args.batch}x3x{args.size}^2, {args.iterations} iterations x {args.repeats} alternated runs per variant.\n")
    print(training_variants(build, args.batch, args.iterations, args.repeats, args.bf16))
    print(f"\n{PEAK_RSS_NOTE}.")


if __name__ == "__main__":
    main()
