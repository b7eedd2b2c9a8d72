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
from _common import PEAK_RSS_NOTE, alternate, bf16_label, engine_real_bf16, table  # noqa: E402
from _common import cpu_autocast as autocast  # noqa: E402


def make_loader(n: int, size: int) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    data = [{"image": torch.rand(1, size, size, size, generator=g), "label": torch.rand(1, size, size, size, generator=g) * 2 - 1} for _ in range(n)]
    return DataLoader(Dataset(data), batch_size=1, shuffle=False, num_workers=0)


FEATURES = (16, 32, 64, 128)  # the bundle's


def make_network(channels_last: bool, features: tuple[int, ...]) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    net = UNet3D(features=features)
    if channels_last:
        net = network_to_channels_last(net, 3)
    return net, torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=0.01)


def plain_epoch(loader: DataLoader, amp: bool, channels_last: bool, features: tuple[int, ...]) -> list[float]:
    net, opt = make_network(channels_last, features)
    loss_fn = torch.nn.MSELoss()
    net.train()
    stamps = [time.perf_counter()]
    for batch in loader:
        x, y = batch["image"], batch["label"]
        if channels_last:
            x, y = to_channels_last(x), to_channels_last(y)
        opt.zero_grad(set_to_none=True)
        with autocast(amp):
            loss = loss_fn(net(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        stamps.append(time.perf_counter())
    return [b - a for a, b in zip(stamps[1:-1], stamps[2:])]  # the first step of a new network is warm-up


def engine_epoch(loader: DataLoader, amp: bool, channels_last: bool, features: tuple[int, ...]) -> list[float]:
    net, opt = make_network(channels_last, features)
    trainer = SupervisedTrainer(
        device=torch.device("cpu"), max_epochs=1, train_data_loader=loader, network=net, optimizer=opt,
        loss_function=torch.nn.MSELoss(), amp=amp, channels_last=channels_last, grad_clip_norm=1.0,
    )
    stamps: list[float] = []
    trainer.add_event_handler(Events.EPOCH_STARTED, lambda _: stamps.append(time.perf_counter()))
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda _: stamps.append(time.perf_counter()))
    trainer.run()
    return [b - a for a, b in zip(stamps[1:-1], stamps[2:])]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10, help="volumes per epoch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--features", type=int, nargs=4, default=FEATURES, help="U-Net widths (default: the bundle's)")
    parser.add_argument("--no-bf16", dest="bf16", action="store_false", help="skip the bf16 variants")
    args = parser.parse_args(argv)
    if args.iterations < 3:
        parser.error("--iterations must be >= 3 (the first iteration of every run is warm-up)")
    loader, features = make_loader(args.iterations, args.size), tuple(args.features)
    print(f"U-Net features {features}, {args.iterations} x {args.size}^3 volumes per epoch, batch 1, "
          f"{args.repeats} alternated runs per variant.\n")
    bf16 = bf16_label()
    variants = {"fp32": (False, False), "channels_last_3d": (False, True)}
    if args.bf16:
        variants = {"fp32": (False, False), bf16: (True, False), "channels_last_3d": (False, True),
                    f"{bf16} + channels_last_3d": (True, True)}
    with engine_real_bf16():
        engine_epoch(loader, False, False, features)  # warm-up (allocator, kernels)
        runs = {("plain", "fp32"): lambda: plain_epoch(loader, False, False, features)}
        for name, (amp, cl) in variants.items():
            runs[("engine", name)] = lambda a=amp, c=cl: engine_epoch(loader, a, c, features)
        results = alternate(runs, args.repeats)
    (plain, plain_peak, n), (ours, ours_peak, _) = results[("plain", "fp32")], results[("engine", "fp32")]
    print(table(["fp32 loop", "s/iteration (median)", "peak RSS MiB", "iterations"],
                [["plain PyTorch", f"{plain:.3f}", f"{plain_peak:.0f}", n],
                 ["our engine", f"{ours:.3f}", f"{ours_peak:.0f}", n]]))
    print(f"\nengine overhead {100 * (ours / plain - 1):+.1f} % (ratio {ours / plain:.3f})\n")
    rows = []
    for name in variants:
        t, peak, n = results[("engine", name)]
        rows.append([name, f"{t:.3f}", f"{1 / t:.2f}", f"speed-up x{ours / t:.2f}", f"{peak:.0f}", n])
    print(table(["engine variant", "s/iteration (median)", "samples/s", "vs fp32", "peak RSS MiB", "iterations"], rows))
    print(f"\n{PEAK_RSS_NOTE}.")


if __name__ == "__main__":
    main()
