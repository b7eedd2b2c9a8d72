"""Scalars that live on a device (a loss, its terms) read together: one transfer per iteration, not one per scalar.

Each ``float()`` of a CUDA tensor waits for the GPU and copies one number; a GAN's iteration has half a dozen
losses, read by the progress bar, the console log, TensorBoard, MLflow, the training history and the divergence
check. :class:`IterationScalars` reads them once per iteration for all of these readers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

__all__ = ["IterationScalars", "is_scalar", "scalar_values", "stack_scalars"]


def stack_scalars(values: Sequence[Any]) -> torch.Tensor:
    """One float32 tensor of the 1-element tensors and numbers in `values`, on the first non-CPU device among them."""
    scalars = [v.detach().float().reshape(()) if isinstance(v, torch.Tensor) else torch.tensor(float(v))
               for v in values]
    if len(scalars) == 1:  # a supervised trainer's loss: no stacking copy on the device
        return scalars[0].reshape(1)
    device = next((t.device for t in scalars if t.device.type != "cpu"), torch.device("cpu"))
    return torch.stack([t.to(device) for t in scalars]) if scalars else torch.zeros(0)


def is_scalar(value: Any) -> bool:
    """A number or a one-element tensor."""
    return (isinstance(value, torch.Tensor) and value.numel() == 1) or isinstance(value, (int, float))


def scalar_values(values: Sequence[Any]) -> list[float]:
    """`values` as Python floats, read from the device in one transfer."""
    return [float(v) for v in stack_scalars(values).tolist()]


class IterationScalars:
    """An output transform: ``engine.state.output`` -> {name: float} of the engine's scalars, read from the device
    once per iteration however many handlers ask (the first call transfers, the others get the same numbers).

    Args:
        engine: whose iteration counter tells one iteration's output from the next.
        keys: the scalars of the output (a trainer's losses); a key the output lacks, or holds no scalar in, is left
            out.
        extra: more named scalars of the iteration (e.g. a loss's per-term values), asked for at each read.
    """

    def __init__(self, engine: Any, keys: Sequence[str],
                 extra: Callable[[], Mapping[str, Any] | None] | None = None) -> None:
        self.engine, self.keys, self.extra = engine, list(keys), extra
        self._read_at: tuple[int, int] | None = None
        self._values: dict[str, float] = {}

    def __call__(self, output: Any) -> dict[str, float]:
        out = output[0] if isinstance(output, list) and output else output
        stamp = (int(self.engine.state.iteration), id(out))
        if stamp != self._read_at:
            found = {k: out[k] for k in self.keys if isinstance(out, Mapping) and is_scalar(out.get(k))}
            more = self.extra() if self.extra is not None else None
            if isinstance(more, Mapping):
                found.update(more)
            self._values = dict(zip(found, scalar_values(list(found.values()))))
            self._read_at = stamp
        return dict(self._values)

    def of(self, key: str) -> Callable[[Any], float]:
        """The output transform of one scalar (KeyError where the output lacks it)."""
        return lambda output: self(output)[key]
