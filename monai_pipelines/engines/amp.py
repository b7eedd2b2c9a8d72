"""Mixed precision and memory format on the device actually used.

MONAI's trainers call ``torch.autocast("cuda")`` unconditionally, so ``amp=True`` silently stays
fp32 on a CPU; these helpers autocast on ``device.type`` (bf16 on CPU, bf16/fp16 on CUDA). A CPU without
native bf16 arithmetic (AVX512-BF16 or AMX) emulates it: a 3D U-Net step measured 60x slower than fp32 on an
AVX2 EPYC, so there ``amp`` stays fp32 and says so once.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator

import torch

from monai_pipelines.engines.tiny_convolutions import TinyConvolutionsInFp32

logger = logging.getLogger(__name__)

_DTYPES = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16}


def amp_dtype(device: torch.device | str, dtype: str | torch.dtype | None = None) -> torch.dtype:
    """The autocast dtype: ``dtype`` if given, else bf16 on CPU and on CUDA devices that support it, else fp16."""
    device = torch.device(device)
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is not None:
        if dtype not in _DTYPES:
            raise ValueError(f"amp dtype must be one of {sorted(_DTYPES)}, got {dtype!r}.")
        return _DTYPES[dtype]
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), i.e. bf16 autocast can be faster than fp32."""
    capability = str(torch.backends.cpu.get_cpu_capability()).upper()
    if "AMX" in capability:
        return True
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return "AVX512" in capability
    return any(flag in flags for flag in (" avx512_bf16", " amx_bf16"))


def amp_enabled(device: torch.device | str, enabled: bool, dtype: str | torch.dtype | None = None) -> bool:
    """Whether autocast really runs: ``enabled``, except bf16 on a CPU that only emulates it (logged once)."""
    device = torch.device(device)
    if not enabled or device.type != "cpu" or amp_dtype(device, dtype) != torch.bfloat16:
        return bool(enabled)
    if cpu_has_native_bf16():
        return True
    _warn_emulated_bf16()
    return False


@functools.cache
def _warn_emulated_bf16() -> None:
    logger.warning("amp: this CPU has no native bf16 (%s); bf16 autocast would be emulated and many times slower "
                   "than fp32, so this run computes in fp32", torch.backends.cpu.get_cpu_capability())


def autocast(device: torch.device | str, enabled: bool, dtype: str | torch.dtype | None = None):
    """``torch.autocast`` for ``device``'s type; a no-op context when disabled (or bf16 is emulated on this CPU);
    bf16 on a CPU is :func:`cpu_bf16_autocast`."""
    if not amp_enabled(device, enabled, dtype):
        return contextlib.nullcontext()
    device, dtype = torch.device(device), amp_dtype(device, dtype)
    if device.type == "cpu" and dtype == torch.bfloat16:
        return cpu_bf16_autocast()
    return torch.autocast(device_type=device.type, dtype=dtype)


@contextlib.contextmanager
def cpu_bf16_autocast() -> Iterator[None]:
    """bf16 autocast on the CPU; with gradients on (training), convolutions over tiny spatial sizes stay fp32
    (:mod:`monai_pipelines.engines.tiny_convolutions`: oneDNN's bf16 weight gradients are wrong there)."""
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        if not torch.is_grad_enabled():
            yield
            return
        with TinyConvolutionsInFp32():
            yield


def grad_scaler(device: torch.device | str, enabled: bool, dtype: str | torch.dtype | None = None) -> torch.amp.GradScaler:
    """A GradScaler that is active only for fp16 (bf16 needs no loss scaling)."""
    device = torch.device(device)
    active = enabled and amp_dtype(device, dtype) == torch.float16
    return torch.amp.GradScaler(device.type, enabled=active)


def memory_format(ndim: int) -> torch.memory_format:
    """channels_last for 4D (N, C, H, W) tensors, channels_last_3d for 5D (N, C, D, H, W)."""
    if ndim == 4:
        return torch.channels_last
    if ndim == 5:
        return torch.channels_last_3d
    return torch.contiguous_format


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """Tensor in channels-last layout when it is 4D/5D, unchanged otherwise."""
    if isinstance(x, torch.Tensor) and x.ndim in (4, 5):
        return x.contiguous(memory_format=memory_format(x.ndim))
    return x


def network_spatial_dims(network: torch.nn.Module) -> int | None:
    """2 or 3: the dimensionality of the network's first convolution (None when it has none)."""
    for module in network.modules():
        if isinstance(module, torch.nn.modules.conv._ConvNd) and module.weight.ndim in (4, 5):
            return module.weight.ndim - 2
    return None


def network_to_channels_last(network: torch.nn.Module, spatial_dims: int) -> torch.nn.Module:
    """Move a network's conv weights to channels-last (2D) or channels-last-3d (3D)."""
    return network.to(memory_format=memory_format(spatial_dims + 2))
