"""One training epoch of the mri_to_ct_unet3d engine vs a plain PyTorch loop, and fp32 / bf16 / channels_last_3d.

Same network (seed 3D U-Net, 16/32/64/128), same in-memory data (64^3 volumes, batch 1), same optimiser,
loss and gradient clipping; runs are interleaved and repeated. Time per iteration is the gap between consecutive
iteration ends (data fetch, step and, for the engine, its events and handlers), and the median over all
iterations is reported: on a shared CPU, epoch totals vary by tens of percent from one run to the next.

    python benchmarks/bench_mri_to_ct_engine.py [--iterations 10 --repeats 3 --size 64]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from ignite.engine import Events
from monai.data import DataLoader, Dataset

from monai_pipelines.engines import SupervisedTrainer
from monai_pipelines.engines.amp import autocast, network_to_channels_last, to_channels_last
from monai_pipelines.networks import UNet3D


def make_loader(n: int, size: int) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    data = [{"image": torch.rand(1, size, size, size, generator=g), "label": torch.rand(1, size, size, size, generator=g) * 2 - 1} for _ in range(n)]
    return DataLoader(Dataset(data), batch_size=1, shuffle=False, num_workers=0)


def make_network(channels_last: bool) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    net = UNet3D(features=(16, 32, 64, 128))
    if channels_last:
        net = network_to_channels_last(net, 3)
    return net, torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=0.01)


def plain_epoch(loader: DataLoader, amp: bool, channels_last: bool) -> list[float]:
    net, opt = make_network(channels_last)
    loss_fn = torch.nn.MSELoss()
    net.train()
    stamps = [time.perf_counter()]
    for batch in loader:
        x, y = batch["image"], batch["label"]
        if channels_last:
            x, y = to_channels_last(x), to_channels_last(y)
        opt.zero_grad(set_to_none=True)
        with autocast("cpu", amp):
            loss = loss_fn(net(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        stamps.append(time.perf_counter())
    return [b - a for a, b in zip(stamps[1:-1], stamps[2:])]  # the first step of a new network is warm-up


def engine_epoch(loader: DataLoader, amp: bool, channels_last: bool) -> list[float]:
    net, opt = make_network(channels_last)
    trainer = SupervisedTrainer(
        device=torch.device("cpu"), max_epochs=1, train_data_loader=loader, network=net, optimizer=opt,
        loss_function=torch.nn.MSELoss(), amp=amp, channels_last=channels_last, grad_clip_norm=1.0,
    )
    stamps: list[float] = []
    trainer.add_event_handler(Events.EPOCH_STARTED, lambda _: stamps.append(time.perf_counter()))
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda _: stamps.append(time.perf_counter()))
    trainer.run()
    return [b - a for a, b in zip(stamps[1:-1], stamps[2:])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10, help="volumes per epoch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    loader = make_loader(args.iterations, args.size)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.iterations} x {args.size}^3 volumes per epoch")
    engine_epoch(loader, False, False)  # warm-up (allocator, kernels)

    times: dict[str, list[float]] = {"plain fp32": [], "engine fp32": []}
    for r in range(args.repeats):  # alternate the order so neither side always runs first
        runs = [("plain fp32", plain_epoch), ("engine fp32", engine_epoch)]
        for name, fn in runs if r % 2 == 0 else runs[::-1]:
            times[name].extend(fn(loader, False, False))
    plain, ours = statistics.median(times["plain fp32"]), statistics.median(times["engine fp32"])
    n = len(times["plain fp32"])
    print(f"plain PyTorch loop   {plain:.3f} s/it  (median of {n} iterations)")
    print(f"our engine           {ours:.3f} s/it")
    print(f"engine overhead      {100 * (ours / plain - 1):+6.1f} %  (ratio {ours / plain:.3f})")

    variants = {"fp32": (False, False), "bf16 autocast": (True, False), "channels_last_3d": (False, True), "bf16 + channels_last_3d": (True, True)}
    results = {}
    for name, (amp, cl) in variants.items():
        results[name] = statistics.median(t for _ in range(args.repeats) for t in engine_epoch(loader, amp, cl))
    base = results["fp32"]
    print("\nengine, median time per iteration:")
    for name, t in results.items():
        print(f"  {name:24s} {t:.3f} s  speed-up x{base / t:.2f}")


if __name__ == "__main__":
    main()
