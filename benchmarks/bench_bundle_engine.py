"""A bundle's full training engine (its train.json: data pipeline, trainer and real handler set) vs a plain PyTorch
loop over the same DataLoader, network, optimiser and loss, in one process, for every bundle: a supervised step
(mri_to_ct_unet3d, glacier_segmentation, glioma_grade_resnet50_3d) or a conditional GAN step (ct_phase_pix2pix,
mmgan_missing_modality: the trainer's own G and D updates, called without Ignite).

The bundle's trainer runs ``--epochs`` epochs; after every engine iteration one plain step runs on the same objects
(the next batch of its own pass over the same loader), so the two alternate step by step and a drifting machine load
favours neither. An engine iteration's time is from the end of the previous plain step to the end of the engine's
iteration-completed handlers (data wait, step, events, handlers); a plain step's time includes its data wait. The
first iteration of every epoch is not timed (loader start-up), so the per-epoch handlers (validation, checkpoints,
plots) are not in the times. The engine's validation is switched off (``val_interval`` past the last epoch; a bundle
whose scheduler needs the validation metric, glacier's ReduceLROnPlateau, takes ``--set val_interval=1``: validation
runs between epochs, untimed). One untimed pass over the loader comes first, so cached datasets are filled. Medians
over all iterations; the ratio engine/plain is printed.

    python benchmarks/bench_bundle_engine.py [--bundle mri_to_ct_unet3d --epochs 4 --set patch_size=[48,48,48]]
    python benchmarks/bench_bundle_engine.py --bundle glacier_segmentation --epochs 2 --set val_interval=1
    python benchmarks/bench_bundle_engine.py --bundle glioma_grade_resnet50_3d --epochs 2 --set image_size=48

``--trace FILE`` also profiles ``--trace_iterations`` engine iterations and plain steps of the last epoch
(torch.profiler, after its 5th iteration), writes the Chrome trace (``.json.gz``; ``--trace_python``: with the Python
calls between operators) and prints, per loop, the operators, kernel launches, copies and synchronisations of an
iteration and the operators the engine runs more often.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Events

from monai_pipelines.engines.amp import autocast, grad_scaler, to_channels_last
from monai_pipelines.engines.conditional_gan_trainer import ConditionalGanTrainer
from monai_pipelines.engines.supervised_trainer import plain_tensor

sys.path.insert(0, str(Path(__file__).parent))
from _common import endless, peak_rss_mb, reset_peak_rss, sync, table  # noqa: E402
from _trace import TraceWindow  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def parse_overrides(pairs: list[str]) -> dict:
    """``key=JSON`` pairs (a value that is not JSON is taken as a string)."""
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


FETCH, STEP = "data fetch (DataLoader next)", "step (batch to device, forward, loss, backward, optimiser)"
PER_ITERATION = (Events.GET_BATCH_STARTED, Events.GET_BATCH_COMPLETED, Events.ITERATION_STARTED,
                 Events.ITERATION_COMPLETED)


def _timed(func: Callable, seconds: list[float]) -> Callable:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - start)

    return wrapper


def _name(func: Any) -> str:
    owner = getattr(func, "__self__", None)
    return f"{type(owner).__name__}.{func.__name__}" if owner is not None else getattr(func, "__qualname__", repr(func))


def time_engine_parts(engine: Any) -> dict[str, list[float]]:
    """Wrap the engine's step, its data fetch and every handler of a per-iteration event (Ignite's and MONAI's
    IterationEvents) in timers; returns part name -> seconds of each call."""
    from monai.engines.utils import IterationEvents

    parts: dict[str, list[float]] = {STEP: []}
    engine._process_function = _timed(engine._process_function, parts[STEP])
    fetch, started = parts.setdefault(FETCH, []), [0.0]
    engine.add_event_handler(Events.GET_BATCH_STARTED, lambda e: started.__setitem__(0, time.perf_counter()))
    engine.add_event_handler(Events.GET_BATCH_COMPLETED, lambda e: fetch.append(time.perf_counter() - started[0]))
    for event in (*PER_ITERATION, *IterationEvents):
        for index, (func, args, kwargs) in enumerate(engine._event_handlers.get(event, [])):
            if getattr(func, "__name__", "") == "<lambda>":
                continue  # the fetch timers above
            seconds = parts.setdefault(f"{_name(func)} on {event.name}", [])
            engine._event_handlers[event][index] = (_timed(func, seconds), args, kwargs)
    return parts


def supervised_step(trainer: Any) -> Callable[[Any], None]:
    """A plain training step of a supervised trainer: its prepare_batch, network, loss (with its ``loss_kwargs``),
    optimiser, precision, channels-last and gradient clipping, in plain PyTorch."""
    network, optimizer, loss_fn = trainer.network, trainer.optimizer, trainer.loss_function
    clip, device, channels_last = trainer.grad_clip_norm, trainer.state.device, trainer.channels_last
    loss_keys = getattr(trainer, "loss_kwargs", {})  # e.g. glacier's distance maps, computed by its loader
    scaler = grad_scaler(device, trainer.amp, trainer.amp_dtype)  # the trainer's precision, its own scaler

    def step(batch: Any) -> None:
        network.train()
        x, y = trainer.prepare_batch(batch, device, trainer.non_blocking, **trainer.to_kwargs)[:2]
        x, y = plain_tensor(x), plain_tensor(y)  # no metadata
        loss_kwargs = {name: plain_tensor(batch[key]).to(device) for name, key in loss_keys.items()}
        if channels_last:
            x = to_channels_last(x)
        optimizer.zero_grad(set_to_none=True)
        with autocast(device, trainer.amp, trainer.amp_dtype):
            loss = loss_fn(network(x), y, **loss_kwargs).mean()
        scaler.scale(loss).backward()
        if clip is not None:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(network.parameters(), clip)
        scaler.step(optimizer)
        scaler.update()

    return step


def gan_step(trainer: Any) -> Callable[[Any], None]:
    """A plain step of a conditional GAN trainer (pix2pix, MM-GAN): its prepare_batch and batch transform (MM-GAN's
    scenarios), then its own generator, D and G updates in its update order, without Ignite's loop, state or
    handlers (the G update fires two IterationEvents, which must have no handlers here)."""
    from monai.engines.utils import IterationEvents

    from monai_pipelines.engines.conditional_gan_trainer import UpdateOrder

    for event in (IterationEvents.LOSS_COMPLETED, IterationEvents.BACKWARD_COMPLETED):
        if trainer._event_handlers.get(event):
            raise SystemExit(f"the bundle has handlers on {event.name}: a plain GAN step would run them.")

    def step(batch: Any) -> None:
        condition, target, extras = trainer.prepare_step(batch)
        fake = trainer._generate(condition, target, extras)
        if trainer.update_order == UpdateOrder.D_FIRST:
            trainer._d_step(condition, target, fake, extras)
            trainer._g_step(condition, target, fake, extras)
        else:
            trainer._g_step(condition, target, fake, extras)
            with torch.no_grad():
                fake = trainer._generate(condition, target, extras)
            trainer._d_step(condition, target, fake, extras)

    return step


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default="mri_to_ct_unet3d")
    parser.add_argument("--epochs", type=int, default=4, help="engine epochs (as many plain epochs interleaved)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=JSON", help="config overrides")
    parser.add_argument("--trace", type=Path, help="profile the last epoch's iterations and write the trace here")
    parser.add_argument("--trace_iterations", type=int, default=10, help="engine iterations (and plain steps) profiled")
    parser.add_argument("--trace_python", action="store_true", help="the trace also records Python calls (slower)")
    args = parser.parse_args(argv)
    from monai.bundle import ConfigWorkflow

    with tempfile.TemporaryDirectory() as tmp:
        overrides = {"epochs": args.epochs, "val_interval": args.epochs + 1, "output_dir": tmp,
                     **parse_overrides(args.set)}
        workflow = ConfigWorkflow(config_file=str(REPO / "bundles" / args.bundle / "configs" / "train.json"),
                                  workflow_type="train", logging_file=False, **overrides)
        workflow.initialize()
        get = workflow.parser.get_parsed_content
        trainer, loader = get("train#trainer"), get("train#dataloader")
        device = trainer.state.device
        step = gan_step(trainer) if isinstance(trainer, ConditionalGanTrainer) else supervised_step(trainer)
        batches = endless(loader)  # the plain loop's own passes, started at its first step

        def plain_step() -> float:
            """One plain step on the next batch of the same loader (its own pass over it); its seconds."""
            start = time.perf_counter()
            batch = next(batches)
            fetched = time.perf_counter()
            plain_parts[FETCH].append(fetched - start)
            step(batch)
            sync(device)
            plain_parts[STEP].append(time.perf_counter() - fetched)
            return time.perf_counter() - start

        plain_parts: dict[str, list[float]] = {FETCH: [], STEP: []}
        times: dict[str, list[float]] = {"plain PyTorch loop": [], "bundle engine + handlers": []}
        last: list[float] = []
        window, open_region, traced, trace_report = TraceWindow(device, args.trace_python), [], [0], []

        def stop_trace() -> None:
            while open_region:
                window.exit(open_region.pop())
            if window.active:
                trace_report.append(window.stop(args.trace))

        def epoch_started(engine) -> None:
            last.clear()  # the first iteration of an epoch includes the loader's start: not timed

        def iteration_completed(engine) -> None:
            sync(device)
            now = time.perf_counter()
            while open_region:
                window.exit(open_region.pop())
            if last:
                times["bundle engine + handlers"].append(now - last[0])
                with window.region("plain step") if window.active else contextlib.nullcontext():
                    times["plain PyTorch loop"].append(plain_step())
                if window.active:
                    traced[0] += 1
                    if traced[0] >= args.trace_iterations:
                        stop_trace()
            local = (engine.state.iteration - 1) % engine.state.epoch_length + 1
            if args.trace and not traced[0] and not window.active and engine.state.epoch == args.epochs and local == 5:
                window.start()
            last[:] = [time.perf_counter()]
            if window.active:
                open_region.append(window.enter("engine iteration"))

        for _ in loader:  # one untimed pass first: a PersistentDataset/CacheDataset fills its cache (the first
            pass  # epoch of a run), which would otherwise be charged to the engine's first epoch only
        parts = time_engine_parts(trainer)  # before our own timing handlers are added: they are not timed
        trainer.add_event_handler(Events.EPOCH_STARTED, epoch_started)
        trainer.add_event_handler(Events.ITERATION_COMPLETED, iteration_completed)  # after the bundle's handlers
        trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda engine: stop_trace())  # a window cut short
        reset_peak_rss()
        workflow.run()
        workflow.finalize()
        batches.close()  # shut the plain loop's loader workers down now: left to exit, their clean-up can hang
    plain_t, engine_t = (statistics.median(times[k]) for k in times)
    print(f"{args.bundle} train.json (overrides {json.dumps(parse_overrides(args.set))}), {args.epochs} engine "
          f"epochs of {len(loader)} iterations, a plain step after every engine iteration; torch threads "
          f"{torch.get_num_threads()}; peak RSS of both {peak_rss_mb():.0f} MiB.\n")
    print(table(["loop", "s/iteration (median)", "iterations"],
                [[k, f"{statistics.median(v):.4f}", len(v)] for k, v in times.items()]))
    print(f"\nfull engine / plain loop: ratio {engine_t / plain_t:.3f} ({100 * (engine_t / plain_t - 1):+.1f} %)")
    print("\nWhere an iteration's time goes (median ms per call; the step ends with the GPU's work done in the plain "
          "loop, in the engine when a handler first reads a value of it):\n")
    rows = [[name, f"{1e3 * statistics.median(v):.2f}" if v else "-",
             f"{1e3 * statistics.median(plain_parts[name]):.2f}" if name in plain_parts else "-", len(v)]
            for name, v in sorted(parts.items(), key=lambda item: -statistics.median(item[1] or [0.0]))]
    named = sum(statistics.median(v) for v in parts.values() if v)
    rows.append(["rest (Ignite's loop, events, other handlers)", f"{1e3 * (engine_t - named):.2f}",
                 f"{1e3 * (plain_t - sum(statistics.median(v) for v in plain_parts.values())):.2f}", ""])
    print(table(["part", "engine", "plain loop", "calls"], rows))
    if args.trace:
        print(f"\n{trace_report[0] if trace_report else 'no iteration was profiled (an epoch of under 6 iterations)'}"
              f"\n\nChrome trace: {args.trace}")

if __name__ == "__main__":
    main()
