"""One training epoch of the mri_to_ct_unet3d engine vs a plain PyTorch loop, and fp32 / bf16 / channels_last_3d.

Same network (seed 3D U-Net, 16/32/64/128), same in-memory data (64^3 volumes, batch 1), same optimiser,
loss and gradient clipping; all runs are interleaved in one process, the order reversed on every other repeat.
Time per iteration is the gap between consecutive iteration ends (data fetch, step and, for the engine, its events
and handlers; the first step of every new network is warm-up and dropped), and the median over all iterations is
reported: on a shared CPU, epoch totals vary by tens of percent from one run to the next. bf16 is real
``torch.autocast`` (the package's ``amp`` computes in fp32 on a CPU that only emulates bf16; here the engine is
made to autocast), labelled "emulated" on such a CPU, where a 64^3 bf16 step takes minutes: use a small --size.

    python benchmarks/bench_mri_to_ct_engine.py [--iterations 10 --repeats 3 --size 64]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from ignite.engine import Events
from monai.data import DataLoader, Dataset

from monai_pipelines.engines import SupervisedTrainer
from monai_pipelines.engines.amp import network_to_channels_last, to_channels_last
from monai_pipelines.networks import UNet3D

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
    sync,
    table,
)


def make_loader(n: int, size: int) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    data = [{"image": torch.rand(1, size, size, size, generator=g), "label": torch.rand(1, size, size, size, generator=g) * 2 - 1} for _ in range(n)]
    return DataLoader(Dataset(data), batch_size=1, shuffle=False, num_workers=0)


FEATURES = (16, 32, 64, 128)  # the bundle's


def make_network(channels_last: bool, features: tuple[int, ...], device: torch.device
                 ) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    net = UNet3D(features=features).to(device)
    if channels_last:
        net = network_to_channels_last(net, 3)
    return net, torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=0.01)


def plain_epoch(loader: DataLoader, precision: str, channels_last: bool, features: tuple[int, ...],
                device: torch.device) -> list[float]:
    net, opt = make_network(channels_last, features, device)
    loss_fn = torch.nn.MSELoss()
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    net.train()
    sync(device)
    stamps = [time.perf_counter()]
    for batch in loader:
        x, y = batch["image"].to(device), batch["label"].to(device)
        if channels_last:
            x, y = to_channels_last(x), to_channels_last(y)
        opt.zero_grad(set_to_none=True)
        with MixedPrecision(device).autocast(precision):
            loss = loss_fn(net(x), y)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()
        sync(device)
        stamps.append(time.perf_counter())
    return [b - a for a, b in zip(stamps[1:-1], stamps[2:])]  # the first step of a new network is warm-up


def engine_epoch(loader: DataLoader, precision: str, channels_last: bool, features: tuple[int, ...],
                 device: torch.device, compiled: bool = False) -> list[float]:
    net, opt = make_network(channels_last, features, device)
    trainer = SupervisedTrainer(
        device=device, max_epochs=1, train_data_loader=loader, network=torch.compile(net) if compiled else net,
        optimizer=opt, loss_function=torch.nn.MSELoss(), amp=precision != "fp32",
        amp_dtype=None if precision == "fp32" else precision, channels_last=channels_last, grad_clip_norm=1.0,
    )
    stamps: list[float] = []
    trainer.add_event_handler(Events.EPOCH_STARTED, lambda _: (sync(device), stamps.append(time.perf_counter())))
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda _: (sync(device), stamps.append(time.perf_counter())))
    trainer.run()
    return [b - a for a, b in zip(stamps[1:-1], stamps[2:])]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10, help="volumes per epoch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--features", type=int, nargs=4, default=FEATURES, help="U-Net widths (default: the bundle's)")
    parser.add_argument("--no-bf16", dest="bf16", action="store_false", help="skip the bf16 variants")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=None,
                        help="autocast precisions (default: fp32 and bf16; fp16 + GradScaler too on a GPU)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (mixed precision, channels_last_3d)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.iterations < 3:
        parser.error("--iterations must be >= 3 (the first iteration of every run is warm-up)")
    loader, features = make_loader(args.iterations, args.size), tuple(args.features)
    print(f"device {device}, U-Net features {features}, {args.iterations} x {args.size}^3 volumes per epoch, batch 1, "
          f"{args.repeats} alternated runs per variant.\n")
    precisions = [p for p in (args.precisions or default_precisions(device)) if args.bf16 or p != "bf16"]
    variants = {precision_label(p, device): (p, False, False) for p in precisions}
    variants["channels_last_3d"] = ("fp32", True, False)
    variants |= {f"{precision_label(p, device)} + channels_last_3d": (p, True, False) for p in precisions if p == "bf16"}
    if args.compile:
        mixed = "bf16" if "bf16" in precisions else "fp32"
        variants[f"{precision_label(mixed, device)} + channels_last_3d + compile"] = (mixed, True, True)
    with engine_real_bf16():
        for precision, cl, compiled in set(variants.values()):  # warm-up (allocator, kernels, compilation)
            engine_epoch(loader, precision, cl, features, device, compiled)
        runs = {("plain", "fp32"): lambda: plain_epoch(loader, "fp32", False, features, device)}
        for name, (precision, cl, compiled) in variants.items():
            runs[("engine", name)] = lambda p=precision, c=cl, k=compiled: engine_epoch(loader, p, c, features, device, k)
        results = alternate(runs, args.repeats)
    (plain, plain_peak, n), (ours, ours_peak, _) = results[("plain", "fp32")], results[("engine", "fp32")]
    print(table(["fp32 loop", "s/iteration (median)", peak_label(), "iterations"],
                [["plain PyTorch", f"{plain:.3f}", f"{plain_peak:.0f}", n],
                 ["our engine", f"{ours:.3f}", f"{ours_peak:.0f}", n]]))
    print(f"\nengine overhead {100 * (ours / plain - 1):+.1f} % (ratio {ours / plain:.3f})\n")
    flops, (ceiling, _) = step_flops(lambda: plain_epoch(make_loader(1, args.size), "fp32", False, features, device)), \
        matmul_ceiling(device)
    rows = []
    for name in variants:
        t, peak, n = results[("engine", name)]
        rows.append([name, f"{t:.3f}", f"{1 / t:.2f}", f"speed-up x{ours / t:.2f}", f"{flops / t / 1e9:.1f}",
                     f"{100 * flops / t / ceiling:.0f}", f"{peak:.0f}", n])
    print(table(["engine variant", "s/iteration (median)", "samples/s", "vs fp32", "GFLOP/s", "% of ceiling",
                 peak_label(), "iterations"], rows))
    print(f"\n{ceiling_note(device)}")
    print(f"\n{PEAK_RSS_NOTE}.")


if __name__ == "__main__":
    main()
