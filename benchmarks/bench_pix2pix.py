"""pix2pix training speed: our ConditionalGanTrainer + networks vs a plain PyTorch loop; fp32 / bf16 / channels_last;
and generator inference time per slice.

Same generator and PatchGAN, same in-memory batches, Adam(beta1=0.5), vanilla GAN + lambda * L1. All runs
(every variant, plain and engine) are interleaved in one process, the order reversed on every other repeat; the
time of an iteration is the gap between consecutive iteration ends (the first step of each new pair of networks is
warm-up and dropped), and iterations/s is 1 / the median over all iterations: on a shared CPU, run totals of a few
iterations vary by tens of percent. bf16 is real ``torch.autocast`` in both loops (the package's ``amp`` computes
in fp32 on a CPU that only emulates bf16; here the engine is made to autocast), labelled "emulated" on such a
CPU. Defaults are the bundle's (unet_512 at 512, batch 4, instance norm); on a CPU use a reduced size, e.g.

    python benchmarks/bench_pix2pix.py --size 128 --num-downs 7 --ngf 16 --batch 2 --iterations 4 --repeats 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from ignite.engine import Events
from torch.utils.data import DataLoader

from monai_pipelines.engines import ConditionalGanTrainer
from monai_pipelines.engines.amp import network_to_channels_last, to_channels_last
from monai_pipelines.losses import AdversarialLoss
from monai_pipelines.networks import NLayerDiscriminator, Pix2PixUnetGenerator

sys.path.insert(0, str(Path(__file__).parent))
from _common import (  # noqa: E402
    PEAK_RSS_NOTE,
    PRECISIONS,
    MixedPrecision,
    alternate,
    ceiling_note,
    default_precisions,
    engine_real_bf16,
    matmul_ceiling,
    peak_label,
    precision_label,
    step_flops,
    table,
)


def make_nets(args, device, channels_last: bool):
    torch.manual_seed(0)
    gen = Pix2PixUnetGenerator(1, 1, num_downs=args.num_downs, ngf=args.ngf, norm="instance").to(device)
    disc = NLayerDiscriminator(2, ndf=args.ngf, n_layers=3, norm="instance").to(device)
    if channels_last:
        network_to_channels_last(gen, 2)
        network_to_channels_last(disc, 2)
    opt_g = torch.optim.Adam(gen.parameters(), lr=1e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=1e-4, betas=(0.5, 0.999))
    return gen, disc, opt_g, opt_d


def make_loader(args) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    items = [
        {"condition": torch.rand(1, args.size, args.size, generator=g) * 2 - 1,
         "target": torch.rand(1, args.size, args.size, generator=g) * 2 - 1}
        for _ in range(args.iterations * args.batch)
    ]
    return DataLoader(items, batch_size=args.batch, shuffle=False)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _gaps(stamps: list[float]) -> list[float]:
    """Per-iteration times from [start, end of iteration 1, end of 2, ...], without the warm-up iteration 1."""
    return [b - a for a, b in zip(stamps[1:-1], stamps[2:])]


def plain_run(args, device, loader, precision: str, channels_last: bool) -> list[float]:
    """The reference optimize_parameters loop in plain PyTorch; returns seconds per iteration."""
    gen, disc, opt_g, opt_d = make_nets(args, device, channels_last)
    bce, l1, mixed = torch.nn.BCEWithLogitsLoss(), torch.nn.L1Loss(), MixedPrecision(device)
    _sync(device)
    stamps = [time.perf_counter()]
    for batch in loader:
        a, b = batch["condition"].to(device), batch["target"].to(device)
        if channels_last:
            a, b = to_channels_last(a), to_channels_last(b)
        with mixed.autocast(precision):
            fake = gen(a)
            opt_d.zero_grad(set_to_none=True)
            pf = disc(torch.cat([a, fake.detach()], 1)).float()
            pr = disc(torch.cat([a, b], 1)).float()
            loss_d = 0.5 * (bce(pf, torch.zeros_like(pf)) + bce(pr, torch.ones_like(pr)))
        mixed.backward_step(precision, loss_d, opt_d)
        for p in disc.parameters():
            p.requires_grad_(False)
        opt_g.zero_grad(set_to_none=True)
        with mixed.autocast(precision):
            pf = disc(torch.cat([a, fake], 1)).float()
            loss_g = bce(pf, torch.ones_like(pf)) + args.lambda_l1 * l1(fake.float(), b)
        mixed.backward_step(precision, loss_g, opt_g)
        for p in disc.parameters():
            p.requires_grad_(True)
        _sync(device)
        stamps.append(time.perf_counter())
    return _gaps(stamps)


def engine_run(args, device, loader, precision: str, channels_last: bool) -> list[float]:
    gen, disc, opt_g, opt_d = make_nets(args, device, channels_last)
    trainer = ConditionalGanTrainer(
        device=device, max_epochs=1, train_data_loader=loader, generator=gen, discriminator=disc,
        g_optimizer=opt_g, d_optimizer=opt_d, adversarial_loss=AdversarialLoss("vanilla"),
        lambda_reconstruction=args.lambda_l1, amp=precision != "fp32",
        amp_dtype=None if precision == "fp32" else precision, channels_last=channels_last,
    )
    stamps: list[float] = []
    trainer.add_event_handler(Events.EPOCH_STARTED, lambda _: (_sync(device), stamps.append(time.perf_counter())))
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda _: (_sync(device), stamps.append(time.perf_counter())))
    trainer.run()
    return _gaps(stamps)


def inference_ms(args, device, precision: str, channels_last: bool, size: int) -> float:
    gen, *_ = make_nets(args, device, channels_last)
    gen.eval()
    x = torch.rand(args.batch, 1, size, size, device=device) * 2 - 1
    x = to_channels_last(x) if channels_last else x
    times = []
    with torch.inference_mode():
        for i in range(args.iterations + 1):
            _sync(device)
            start = time.perf_counter()
            with MixedPrecision(device).autocast(precision):
                gen(x)
            _sync(device)
            if i:  # first call is warm-up
                times.append((time.perf_counter() - start) / args.batch)
    return 1000 * statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--num-downs", type=int, default=9)
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lambda-l1", type=float, default=50.0)
    parser.add_argument("--inference-size", type=int, default=512, help="slice size for the inference timing")
    parser.add_argument("--no-bf16", dest="bf16", action="store_false", help="skip the bf16 variants")
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=None,
                        help="autocast precisions (default: fp32 and bf16; fp16 + GradScaler too on a GPU)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    if args.iterations < 3:
        parser.error("--iterations must be >= 3 (the first iteration of every run is warm-up)")
    device = torch.device(args.device)
    loader = make_loader(args)
    precisions = [p for p in (args.precisions or default_precisions(device)) if args.bf16 or p != "bf16"]
    variants = [(precision_label(p, device), p, False) for p in precisions] + [("fp32+channels_last", "fp32", True)]
    variants += [(f"{precision_label(p, device)}+channels_last", p, True) for p in precisions if p == "bf16"]
    print(f"device {device}, {args.size}px, num_downs {args.num_downs}, ngf {args.ngf}, batch {args.batch}, "
          f"{args.iterations} iterations x {args.repeats} alternated runs per variant and loop "
          "(1 / median time per iteration).\n")
    with engine_real_bf16():
        engine_run(args, device, loader, "fp32", False)  # warm-up
        runs = {}
        for name, prec, cl in variants:
            runs[(name, "plain")] = lambda a=prec, c=cl: plain_run(args, device, loader, a, c)
            runs[(name, "engine")] = lambda a=prec, c=cl: engine_run(args, device, loader, a, c)
        results = alternate(runs, args.repeats)
        one_batch = DataLoader(list(loader.dataset)[: args.batch], batch_size=args.batch)
        flops, (ceiling, _) = step_flops(lambda: plain_run(args, device, one_batch, "fp32", False)), \
            matmul_ceiling(device)
        base = 1 / results[("fp32", "engine")][0]
        rows = []
        for name, *_ in variants:
            (plain, plain_peak, n), (ours, ours_peak, _) = results[(name, "plain")], results[(name, "engine")]
            rows.append([name, f"{1 / plain:.3f}", f"{1 / ours:.3f}", f"{plain / ours:.3f}", f"{(1 / ours) / base:.2f}",
                         f"{args.batch / ours:.2f}", f"{flops / ours / 1e9:.1f}", f"{100 * flops / ours / ceiling:.0f}",
                         f"{max(plain_peak, ours_peak):.0f}", n])
        print(table(["variant", "plain it/s", "engine it/s", "engine/plain", "vs fp32", "engine samples/s",
                     "engine GFLOP/s", "% of ceiling", peak_label(), "iterations"], rows))
        print(f"\n{ceiling_note(device)}")
        s = args.inference_size
        if s % (2**args.num_downs) != 0:
            print(f"\ninference size {s} is not a multiple of 2**{args.num_downs}; skipping inference timing")
            return
        rows = [[name, f"{inference_ms(args, device, prec, cl, s):.1f}"] for name, prec, cl in variants]
    print(f"\nGenerator inference, {s}x{s} slices, batch {args.batch}:\n")
    print(table(["variant", "ms/slice (median)"], rows))
    print(f"\n{PEAK_RSS_NOTE}.")


if __name__ == "__main__":
    main()
