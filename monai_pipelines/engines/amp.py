"""Mixed precision and memory format on the device actually used.

MONAI's trainers call ``torch.autocast("cuda")`` unconditionally, so ``amp=True`` silently stays
fp32 on a CPU; these helpers autocast on ``device.type`` (bf16 on CPU, bf16/fp16 on CUDA).
"""

from __future__ import annotations

import contextlib

import torch

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


def autocast(device: torch.device | str, enabled: bool, dtype: str | torch.dtype | None = None):
    """``torch.autocast`` for ``device``'s type; a no-op context when disabled."""
    if not enabled:
        return contextlib.nullcontext()
    device = torch.device(device)
    return torch.autocast(device_type=device.type, dtype=amp_dtype(device, dtype))


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


def network_to_channels_last(network: torch.nn.Module, spatial_dims: int) -> torch.nn.Module:
    """Move a network's conv weights to channels-last (2D) or channels-last-3d (3D)."""
    return network.to(memory_format=memory_format(spatial_dims + 2))
