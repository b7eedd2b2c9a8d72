"""Shared pieces of the benchmark scripts: machine description, honest bf16, peak memory, alternated timing.

Every comparison runs its variants in one process, alternated (the order reversed on every other repeat), and
reports medians of per-iteration times after a warm-up iteration per variant.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable, Iterator, Sequence

import torch

PEAK_RSS_NOTE = ("peak RSS: the process's resident-set high-water mark (Linux VmHWM), reset through "
                 "/proc/self/clear_refs before each run of a variant and read after it, so it includes the process "
                 "baseline (Python, torch, the benchmark's data)")


def native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (else torch emulates it, many times slower than fp32)."""
    from monai_pipelines.engines.amp import cpu_has_native_bf16

    return cpu_has_native_bf16()


def bf16_label() -> str:
    """"bf16", or "bf16 (emulated on this CPU)" where the CPU has no native bf16 (the figures are then not a speed-up)."""
    return "bf16" if native_bf16() or torch.cuda.is_available() else "bf16 (emulated on this CPU)"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_lines() -> list[str]:
    """Markdown bullet lines naming the machine and the library versions."""
    import monai
    import nibabel
    import numpy

    lines = [
        f"- CPU: {cpu_model()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, "
        f"capability {torch.backends.cpu.get_cpu_capability()}, native bf16: {'yes' if native_bf16() else 'no'}",
        f"- GPU: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}",
        f"- Python {platform.python_version()}, torch {torch.__version__}, MONAI {monai.__version__}, "
        f"numpy {numpy.__version__}, nibabel {nibabel.__version__}, OS {platform.platform()}",
    ]
    with contextlib.suppress(ImportError):
        import ignite

        lines[-1] += f", ignite {ignite.__version__}"
    return lines


def cpu_autocast(enabled: bool):
    """Real bf16 autocast on the CPU (``torch.autocast`` itself: the package's ``amp`` stays fp32 where bf16 is emulated)."""
    return torch.autocast("cpu", dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


@contextlib.contextmanager
def engine_real_bf16() -> Iterator[None]:
    """Make the package's engines really autocast to bf16 even on a CPU that only emulates it (for measuring)."""
    from monai_pipelines.engines import amp

    original = amp.cpu_has_native_bf16
    amp.cpu_has_native_bf16 = lambda: True
    try:
        yield
    finally:
        amp.cpu_has_native_bf16 = original


def reset_peak_rss() -> None:
    with contextlib.suppress(OSError):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")


def peak_rss_mb() -> float:
    """VmHWM in MiB (since the last :func:`reset_peak_rss`); ``ru_maxrss`` of the process where /proc is absent."""
    with contextlib.suppress(OSError):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_steps(step: Callable[[], object], n: int) -> list[float]:
    """Seconds of each of ``n`` calls of ``step``."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def alternate(runs: dict[str, Callable[[], list[float]]], repeats: int) -> dict[str, tuple[float, float, int]]:
    """Run every variant ``repeats`` times, alternating the order; name -> (median s, peak RSS MiB, samples)."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    peaks: dict[str, float] = dict.fromkeys(runs, 0.0)
    names = list(runs)
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            reset_peak_rss()
            times[name].extend(runs[name]())
            peaks[name] = max(peaks[name], peak_rss_mb())
    return {name: (statistics.median(times[name]), peaks[name], len(times[name])) for name in names}


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A markdown table."""
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def training_variants(
    build: Callable[[bool], Callable[[bool], None]],
    batch: int,
    iterations: int,
    repeats: int,
    bf16: bool = True,
) -> str:
    """Training step fp32 / bf16 / channels_last / both, alternated; a markdown table with ratios to fp32.

    Args:
        build: ``build(channels_last)`` returns ``step(bf16)``, one training step on fixed data (networks built once).
        batch: samples per step (for samples/s).
        bf16: include the bf16 variants (real ``torch.autocast``, labelled as emulated where it is).
    """
    label = bf16_label()
    variants = [("fp32", False, False), ("channels_last", False, True)]
    if bf16:
        variants[1:1] = [(label, True, False)]
        variants.append((f"{label} + channels_last", True, True))
    steps = {cl: build(cl) for cl in (False, True)}
    runs = {}
    for name, amp, cl in variants:
        steps[cl](amp)  # warm-up
        runs[name] = (lambda s=steps[cl], a=amp: timed_steps(lambda: s(a), iterations))
    results = alternate(runs, repeats)
    base = results["fp32"][0]
    rows = [[name, f"{t:.4f}", f"{batch / t:.2f}", f"x{base / t:.2f}", f"{peak:.0f}", n]
            for name, (t, peak, n) in results.items()]
    return table(["variant", "s/iteration (median)", "samples/s", "speed-up vs fp32", "peak RSS MiB", "iterations"], rows)


def network_parser(doc: str, size: int, batch: int) -> argparse.ArgumentParser:
    """The options every per-network training-step benchmark takes."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--size", type=int, default=size, help="spatial side of the input")
    parser.add_argument("--batch", type=int, default=batch)
    parser.add_argument("--iterations", type=int, default=3, help="timed steps per run")
    parser.add_argument("--repeats", type=int, default=2, help="alternated runs per variant")
    parser.add_argument("--no-bf16", dest="bf16", action="store_false", help="skip the bf16 variants")
    return parser


def step_optimiser(net: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.AdamW(net.parameters(), lr=1e-4)


def device_autocast(device: torch.device | str, enabled: bool):
    """Real bf16 autocast on ``device`` (see :func:`cpu_autocast`)."""
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16) if enabled else contextlib.nullcontext()
