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
from collections.abc import Callable, Iterable, Iterator, Sequence

import torch

from monai_pipelines.engines.amp import cpu_bf16_autocast
from monai_pipelines.engines.amp import cpu_has_native_bf16 as _cpu_has_native_bf16

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
    """Real bf16 autocast on the CPU, as the bundles train (``cpu_bf16_autocast``: tiny convolutions in fp32), also
    where bf16 is emulated (the package's ``amp`` stays fp32 there)."""
    return cpu_bf16_autocast() if enabled else contextlib.nullcontext()


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


def _status_mib(field: str) -> float | None:
    """A memory line of /proc/self/status (e.g. ``VmHWM``) in MiB; None where /proc is absent."""
    with contextlib.suppress(OSError):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    return None


def peak_rss_mb() -> float:
    """VmHWM in MiB (since the last :func:`reset_peak_rss`); ``ru_maxrss`` of the process where /proc is absent."""
    peak = _status_mib("VmHWM")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if peak is None else peak


def resident_mb() -> float:
    """The process's resident memory now (VmRSS) in MiB; 0 where /proc is absent."""
    return _status_mib("VmRSS") or 0.0


def sync(device: torch.device | str | None = None) -> None:
    """Wait for the GPU's queued work (a no-op on a CPU), so that a host clock times what was launched."""
    if torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda"):
        torch.cuda.synchronize()


def endless(loader: Iterable) -> Iterator:
    """The loader's batches, pass after pass (the next pass starts where one ends)."""
    while True:
        yield from loader


def timed_steps(step: Callable[[], object], n: int) -> list[float]:
    """Seconds of each of ``n`` calls of ``step`` (the GPU synchronised before and after each)."""
    times = []
    for _ in range(n):
        sync()
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return times


def peak_label() -> str:
    """The peak-memory column: the GPU's allocated peak where a GPU runs the benchmark, else the process's RSS."""
    return "peak GPU MiB" if torch.cuda.is_available() else "peak RSS MiB"


def _reset_peak() -> None:
    reset_peak_rss()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def _peak() -> float:
    """MiB: torch's allocated peak on the GPU since :func:`_reset_peak`, else the process's peak RSS."""
    return torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else peak_rss_mb()


def alternate(runs: dict[str, Callable[[], list[float]]], repeats: int) -> dict[str, tuple[float, float, int]]:
    """Run every variant ``repeats`` times, alternating the order; name -> (median s, peak MiB, samples)."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    peaks: dict[str, float] = dict.fromkeys(runs, 0.0)
    names = list(runs)
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            _reset_peak()
            times[name].extend(runs[name]())
            peaks[name] = max(peaks[name], _peak())
    return {name: (statistics.median(times[name]), peaks[name], len(times[name])) for name in names}


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A markdown table."""
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


#: autocast precisions a benchmark can compare: fp16 uses a GradScaler (as the package's trainers do for fp16)
PRECISIONS = ("fp32", "bf16", "fp16")


def default_precisions(device: torch.device | str) -> list[str]:
    """fp32 and bf16 everywhere (bf16 labelled emulated on a CPU without it); fp16 + GradScaler on a GPU."""
    return ["fp32", "bf16", "fp16"] if torch.device(device).type == "cuda" else ["fp32", "bf16"]


def precision_label(precision: str, device: torch.device | str) -> str:
    if precision == "bf16":
        return "bf16" if torch.device(device).type == "cuda" else bf16_label()
    return "fp16 + GradScaler" if precision == "fp16" else precision


class MixedPrecision:
    """Autocast and loss scaling of one benchmark's networks at a precision ("fp32", "bf16", "fp16"): one GradScaler
    per optimiser and precision (active for fp16 only), kept across steps as a training loop keeps it."""

    def __init__(self, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self._scalers: dict[tuple[str, int], torch.amp.GradScaler] = {}

    def autocast(self, precision: str):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if precision == "fp32":
            return contextlib.nullcontext()
        if precision == "bf16" and self.device.type == "cpu":
            return cpu_bf16_autocast()  # as the bundles train: tiny convolutions in fp32
        return torch.autocast(self.device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)

    def backward_step(self, precision: str, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """``loss.backward(); optimizer.step()``, through the optimiser's GradScaler for fp16."""
        key = (precision, id(optimizer))
        if key not in self._scalers:
            self._scalers[key] = torch.amp.GradScaler(self.device.type, enabled=precision == "fp16")
        scaler = self._scalers[key]
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()


def step_flops(step: Callable[[], object]) -> float:
    """FLOPs of one call of ``step`` (convolutions and matrix products, forward and backward: PyTorch's counter)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return float(counter.get_total_flops())


_CEILINGS: dict[str, tuple[float, str]] = {}


def matmul_ceiling(device: torch.device | str) -> tuple[float, str]:
    """(FLOP/s, what) of a large matrix product on ``device``, the median of 10 after warm-up: bf16 8192^3 on a GPU,
    fp32 1024^3 on a CPU (bf16 there only where it is native). Measured once per process."""
    device = torch.device(device)
    if device.type in _CEILINGS:
        return _CEILINGS[device.type]
    # the function imported with this module, not the attribute that engine_real_bf16() replaces during a benchmark
    native = device.type == "cuda" or _cpu_has_native_bf16()
    n, dtype = (8192, torch.bfloat16) if native else (1024, torch.float32)
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=g)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=g)
    for _ in range(3):
        a @ b
    times = timed_steps(lambda: a @ b, 10)
    what = f"{'bf16' if dtype == torch.bfloat16 else 'fp32'} {n}^3 matmul"
    _CEILINGS[device.type] = (2 * n**3 / statistics.median(times), what)
    return _CEILINGS[device.type]


def ceiling_note(device: torch.device | str) -> str:
    rate, what = matmul_ceiling(device)
    return (f"Matrix-product ceiling measured in this run on {torch.device(device).type}: {rate / 1e9:.1f} GFLOP/s "
            f"({what}); \"% of ceiling\" is the step's FLOPs (PyTorch's counter) over its median time, over it.")


@contextlib.contextmanager
def cudnn_mode(mode: str | None) -> Iterator[None]:
    """cuDNN as a bundle run sets it: "deterministic" (``set_determinism``, the bundles' default) or "benchmark"
    (``--cudnn_benchmark true``: autotuned, not bit-reproducible); None leaves PyTorch's defaults."""
    saved = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    if mode is not None:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = mode == "deterministic", mode == "benchmark"
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved


def training_variants(
    build: Callable[..., Callable[[str], None]],
    batch: int,
    iterations: int,
    repeats: int,
    bf16: bool = True,
    device: torch.device | str = "cpu",
    precisions: Sequence[str] | None = None,
    compile: bool = False,
) -> str:
    """Training step per precision, channels_last, cuDNN mode and torch.compile, alternated; a markdown table with
    ratios to fp32.

    Args:
        build: ``build(channels_last, compiled)`` returns ``step(precision)``, one training step on fixed data
            (networks built once per layout).
        batch: samples per step (for samples/s).
        bf16: include the bf16 variants (real ``torch.autocast``, labelled as emulated where it is).
        device: where the step runs (figures then name the GPU's peak memory; on a GPU the mixed-precision,
            channels-last step is also timed under the bundles' deterministic cuDNN and under cudnn.benchmark).
        precisions: the precisions compared (default: :func:`default_precisions`); each also with channels_last
            except fp16, and the fastest mixed precision also compiled when ``compile``.
    """
    precisions = [p for p in (precisions or default_precisions(device)) if bf16 or p != "bf16"]
    mixed = "bf16" if "bf16" in precisions else precisions[0]
    mixed_cl = f"{precision_label(mixed, device)} + channels_last" if mixed != "fp32" else "channels_last"
    # (name, precision, channels_last, compiled, cuDNN mode)
    variants = [(precision_label(p, device), p, False, False, None) for p in precisions]
    variants.append(("channels_last", "fp32", True, False, None))
    if mixed != "fp32":
        variants.append((mixed_cl, mixed, True, False, None))
    if torch.device(device).type == "cuda":
        variants += [(f"{mixed_cl}, cuDNN deterministic (bundles' default)", mixed, True, False, "deterministic"),
                     (f"{mixed_cl}, cudnn.benchmark", mixed, True, False, "benchmark")]
    if compile:
        variants.append((f"{mixed_cl} + compile", mixed, True, True, None))
    steps = {(cl, compiled): build(cl, compiled) for _, _, cl, compiled, _ in variants}

    def timed(step: Callable[[str], None], precision: str, mode: str | None) -> list[float]:
        with cudnn_mode(mode):
            return timed_steps(lambda: step(precision), iterations)

    runs = {}
    for name, precision, cl, compiled, mode in variants:
        with cudnn_mode(mode):  # warm-up (compilation, cuDNN's algorithm search, the allocator)
            steps[cl, compiled](precision)
            steps[cl, compiled](precision)
        runs[name] = (lambda s=steps[cl, compiled], p=precision, m=mode: timed(s, p, m))
    flops = step_flops(lambda: steps[False, False]("fp32"))
    results = alternate(runs, repeats)
    base, (ceiling, _) = results["fp32"][0], matmul_ceiling(device)
    rows = [[name, f"{t:.4f}", f"{batch / t:.2f}", f"x{base / t:.2f}", f"{flops / t / 1e9:.1f}",
             f"{100 * flops / t / ceiling:.0f}", f"{peak:.0f}", n] for name, (t, peak, n) in results.items()]
    return table(["variant", "s/iteration (median)", "samples/s", "speed-up vs fp32", "GFLOP/s", "% of ceiling",
                  peak_label(), "iterations"], rows) + f"\n\n{ceiling_note(device)}"


def network_parser(doc: str, size: int, batch: int) -> argparse.ArgumentParser:
    """The options every per-network training-step benchmark takes."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--size", type=int, default=size, help="spatial side of the input")
    parser.add_argument("--batch", type=int, default=batch)
    parser.add_argument("--iterations", type=int, default=3, help="timed steps per run")
    parser.add_argument("--repeats", type=int, default=2, help="alternated runs per variant")
    parser.add_argument("--no-bf16", dest="bf16", action="store_false", help="skip the bf16 variants")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=None,
                        help="autocast precisions to compare (default: fp32 and bf16; fp16 + GradScaler too on a GPU)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (mixed precision, channels_last)")
    return parser


def step_optimiser(net: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.AdamW(net.parameters(), lr=1e-4)


def device_autocast(device: torch.device | str, enabled: bool):
    """Real bf16 autocast on ``device`` (see :func:`cpu_autocast`)."""
    if enabled and torch.device(device).type == "cpu":
        return cpu_bf16_autocast()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16) if enabled else contextlib.nullcontext()
