"""Test-time augmentation over flips and 90-degree rotations, averaged over an ensemble of networks.

MONAI's ``TestTimeAugmentation`` draws random transforms and inverts them per sample through the transform stack,
and has no ensemble input; for 2D tiles the 8 dihedral transforms are exact, invertible tensor ops, so this inferer
applies each, runs every network, inverts, and averages softmax probabilities.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from monai.inferers import Inferer, SimpleInferer

__all__ = ["DihedralTTAInferer", "dihedral_transforms"]


def dihedral_transforms(flips: bool = True, rot90: bool = True) -> list[tuple[int, bool]]:
    """(quarter turns, horizontal flip first) pairs: 8 with both, 4 rotations, 2 flips, or identity only."""
    turns = range(4) if rot90 else range(1)
    mirror = (False, True) if flips else (False,)
    return [(k, f) for f in mirror for k in turns]


class DihedralTTAInferer(Inferer):
    """Mean softmax over dihedral transforms (and networks, when given a list) of (B, C, H, W) inputs.

    Args:
        inferer: how each transformed input is run (e.g. a SlidingWindowInferer for large tiles).
        softmax: average probabilities (True) rather than raw logits.
    """

    def __init__(
        self, inferer: Inferer | None = None, flips: bool = True, rot90: bool = True, softmax: bool = True
    ) -> None:
        self.inferer = inferer or SimpleInferer()
        self.transforms = dihedral_transforms(flips, rot90)
        self.softmax = softmax

    def __call__(
        self, inputs: torch.Tensor, network: Callable | Sequence[Callable], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        networks = list(network) if isinstance(network, (list, tuple, torch.nn.ModuleList)) else [network]
        total = None
        for net in networks:
            for k, flip in self.transforms:
                x = torch.flip(inputs, dims=(-1,)) if flip else inputs
                x = torch.rot90(x, k, dims=(-2, -1))
                y = self.inferer(x, net, *args, **kwargs).float()
                y = torch.softmax(y, dim=1) if self.softmax else y
                y = torch.rot90(y, -k, dims=(-2, -1))
                y = torch.flip(y, dims=(-1,)) if flip else y
                total = y if total is None else total + y
        return total / (len(networks) * len(self.transforms))
