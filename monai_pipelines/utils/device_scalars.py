"""Scalars that live on a device (a loss, its terms) read together: one transfer per iteration, not one per scalar.

Each ``float()`` of a CUDA tensor waits for the GPU and copies one number; a GAN's iteration has half a dozen
losses, read by the progress bar, the console log, TensorBoard and the divergence check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["scalar_values", "stack_scalars"]


def stack_scalars(values: Sequence[Any]) -> torch.Tensor:
    """One float32 tensor of the 1-element tensors and numbers in `values`, on the first non-CPU device among them."""
    scalars = [v.detach().float().reshape(()) if isinstance(v, torch.Tensor) else torch.tensor(float(v))
               for v in values]
    device = next((t.device for t in scalars if t.device.type != "cpu"), torch.device("cpu"))
    return torch.stack([t.to(device) for t in scalars]) if scalars else torch.zeros(0)


def scalar_values(values: Sequence[Any]) -> list[float]:
    """`values` as Python floats, read from the device in one transfer."""
    return [float(v) for v in stack_scalars(values).tolist()]
