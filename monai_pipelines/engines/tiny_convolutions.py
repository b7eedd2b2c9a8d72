"""CPU bf16 autocast: convolutions over tiny spatial sizes train in fp32.

oneDNN's bf16 weight-gradient kernel (``jit_bf16:avx512_core_bf16``, PyTorch 2.13's oneDNN 3.12) is wrong for
inputs that are tiny along some spatial axis: garbage or NaN weight gradients, and for some strided 3D shapes heap
corruption that aborts the process. Measured on an AVX512-BF16 CPU over about 3,000 shapes (1 to 16 per axis,
kernels 1-7, strides 1-2, 3 to 512 channels, both memory layouts): every wrong 2D case had an axis of 1, every
wrong 3D case an axis of at most 2, and no case beyond those was wrong. Such layers are the deepest ones of the
U-Nets here (e.g. a 3D U-Net's 2^3 bottom at a 16^3 patch, pix2pix's 1 x 1 bottleneck), where bf16 saves little:
their convolutions run in fp32 under :class:`TinyConvolutionsInFp32`. Forward passes without gradients
(evaluation, inference) stay bf16: the forward and input-gradient kernels are right.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.overrides import TorchFunctionMode

__all__ = ["TINY_SPATIAL_SIZE", "TinyConvolutionsInFp32", "needs_fp32", "tiny_input"]

#: spatial dimensions -> a convolution whose input is at most this along some spatial axis trains in fp32
TINY_SPATIAL_SIZE = {2: 1, 3: 2}

_CONVOLUTIONS = frozenset({torch.conv2d, torch.conv3d, torch.conv_transpose2d, torch.conv_transpose3d})


def tiny_input(x: torch.Tensor) -> bool:
    """Whether a 2D or 3D convolution's input ``x`` (N, C, *spatial) is tiny along some spatial axis."""
    return x.ndim - 2 in TINY_SPATIAL_SIZE and min(x.shape[2:]) <= TINY_SPATIAL_SIZE[x.ndim - 2]


def needs_fp32(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether a convolution of ``x`` by ``weight`` must leave bf16 autocast: CPU bf16 autocast is on, the weight
    gets a gradient and ``x`` is tiny along some spatial axis."""
    return (x.device.type == "cpu" and torch.is_autocast_enabled("cpu")
            and torch.get_autocast_dtype("cpu") == torch.bfloat16 and torch.is_grad_enabled()
            and weight.requires_grad and tiny_input(x))


def _as_fp32(value: Any) -> Any:
    return value.float() if isinstance(value, torch.Tensor) and value.is_floating_point() else value


class TinyConvolutionsInFp32(TorchFunctionMode):
    """Within this mode, the convolutions :func:`needs_fp32` picks run in fp32 with autocast off (their output is
    fp32; the next autocast op casts it as usual); every other call is unchanged."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func in _CONVOLUTIONS:
            x = args[0] if args else kwargs.get("input")
            weight = args[1] if len(args) > 1 else kwargs.get("weight")
            if isinstance(x, torch.Tensor) and isinstance(weight, torch.Tensor) and needs_fp32(x, weight):
                with torch.autocast("cpu", enabled=False):
                    return func(*map(_as_fp32, args), **{k: _as_fp32(v) for k, v in kwargs.items()})
        return func(*args, **kwargs)
