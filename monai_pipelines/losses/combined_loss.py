"""Weighted sum of focal, Dice, MCC and boundary losses with weights that can change during training.

MONAI's DiceFocalLoss has fixed weights and no MCC/boundary terms; here the weights are a dict a handler
(:class:`~monai_pipelines.handlers.LossWeightRamp`) updates each epoch, and zero-weight terms are not computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from monai.losses import DiceLoss, FocalLoss
from torch.nn.modules.loss import _Loss

from .boundary_loss import BoundaryLoss
from .mcc_loss import MCCLoss

__all__ = ["CombinedSegmentationLoss"]

COMPONENTS = ("focal", "dice", "mcc", "boundary")


class CombinedSegmentationLoss(_Loss):
    """sum_k w_k * loss_k over focal, dice, mcc, boundary; logits (B, K, H, W), labels (B, 1, H, W).

    Args:
        weights: component name -> weight; names not given weigh 0.
        gamma: focal loss focusing parameter.
        class_weights: per-class pixel weights of the focal term (a pixel weighs its true class's weight), e.g.
            ``PixelBalancedSampler.loss_weights``, which make up for target proportions the patches cannot reach.
    """

    def __init__(
        self, weights: Mapping[str, float], gamma: float = 2.0, class_weights: Sequence[float] | None = None
    ) -> None:
        super().__init__()
        if class_weights is not None:
            class_weights = [float(w) for w in class_weights]
        self.terms = torch.nn.ModuleDict(
            {
                "focal": FocalLoss(to_onehot_y=True, use_softmax=True, gamma=gamma, weight=class_weights),
                "dice": DiceLoss(to_onehot_y=True, softmax=True),
                "mcc": MCCLoss(),
                "boundary": BoundaryLoss(),
            }
        )
        self.weights = weights
        self.last_components: dict[str, torch.Tensor] = {}

    @property
    def weights(self) -> dict[str, float]:
        return dict(self._weights)

    @weights.setter
    def weights(self, weights: Mapping[str, float]) -> None:
        unknown = set(weights) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"unknown loss component(s) {sorted(unknown)}; known: {list(COMPONENTS)}.")
        if any(float(w) < 0 for w in weights.values()):
            raise ValueError(f"loss weights must be >= 0, got {dict(weights)}.")
        self._weights = {name: float(weights.get(name, 0.0)) for name in COMPONENTS}

    def forward(self, input: torch.Tensor, target: torch.Tensor, dist_maps: torch.Tensor | None = None
                ) -> torch.Tensor:
        """``dist_maps``: the boundary term's signed distance maps when the data pipeline computed them
        (:class:`~monai_pipelines.transforms.SignedDistanceMapsd`); else the term computes them from ``target``."""
        input = input.float()
        total = input.new_zeros(())
        self.last_components = {}
        for name, weight in self._weights.items():
            if weight > 0:
                value = self.terms[name](input, target, dist_maps) if name == "boundary" else \
                    self.terms[name](input, target)
                # kept on the device: read when logged, after the step (a float() here would wait for the GPU
                # between the forward and the backward)
                self.last_components[name] = value.detach()
                total = total + weight * value
        return total
