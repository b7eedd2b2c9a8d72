"""LDAM loss (Cao et al., NeurIPS 2019): cross-entropy with class-dependent margins, larger for rarer classes.

MONAI has no margin-based imbalance loss. Margins are m_j = C / n_j^(1/4) with C chosen so the largest is ``max_m``;
the true-class logit is reduced by its margin and all logits are scaled by ``s`` before a (optionally weighted)
cross-entropy, as in the official implementation. ``weight`` is per class and may be changed between epochs
(deferred re-weighting, see ``monai_pipelines.handlers.DeferredReweighting``).

The margins and ``s`` assume cosine logits in [-1, 1] (the official code's normalised head): on an unnormalised linear
head ``s`` only inflates the logits and the margins become negligible. With ``scaled_logits=True`` the logits already
are ``s * cosine`` (``monai_pipelines.networks.resnet3d.CosineLinear``), so the margins are applied as ``s * m_j``:
the same loss, and the network output stays the logit whose softmax the loss trained.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LDAMLoss", "ldam_margins"]


def ldam_margins(class_counts: Sequence[float], max_m: float = 0.5) -> torch.Tensor:
    """m_j = C / n_j^(1/4), C such that max_j m_j == max_m."""
    counts = torch.as_tensor(class_counts, dtype=torch.float64)
    if counts.ndim != 1 or len(counts) < 2 or bool((counts <= 0).any()):
        raise ValueError(f"class_counts must be >= 2 positive counts, got {list(class_counts)}.")
    margins = counts.pow(-0.25)
    return (margins * (max_m / margins.max())).float()


class LDAMLoss(nn.Module):
    """Label-distribution-aware margin loss on logits (N, C) and integer labels (N,) or (N, 1).

    Args:
        class_counts: training samples per class (index j = class j).
        max_m: the largest margin (that of the rarest class).
        s: logit scale.
        weight: per-class weights of the cross-entropy, None for unweighted.
        scaled_logits: the logits already carry the scale ``s`` (a cosine head with scale ``s``).
    """

    def __init__(
        self,
        class_counts: Sequence[float],
        max_m: float = 0.5,
        s: float = 30.0,
        weight: Sequence[float] | torch.Tensor | None = None,
        scaled_logits: bool = False,
    ) -> None:
        super().__init__()
        if max_m <= 0 or s <= 0:
            raise ValueError(f"max_m and s must be positive, got max_m={max_m}, s={s}.")
        self.register_buffer("margins", ldam_margins(class_counts, max_m), persistent=False)
        self.max_m = max_m
        self.s = s
        self.scaled_logits = scaled_logits
        self.weight: torch.Tensor | None = None
        self.set_weight(weight)

    @property
    def num_classes(self) -> int:
        return len(self.margins)

    def set_weight(self, weight: Sequence[float] | torch.Tensor | None) -> None:
        """Per-class cross-entropy weights (None switches weighting off)."""
        if weight is not None:
            weight = torch.as_tensor(weight, dtype=torch.float32).detach().clone()
            if weight.shape != (self.num_classes,):
                raise ValueError(f"weight needs {self.num_classes} per-class values, got shape {tuple(weight.shape)}.")
        self.weight = weight

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if logits.ndim != 2 or logits.shape[1] != self.num_classes:
            raise ValueError(f"LDAMLoss expects logits (N, {self.num_classes}), got {tuple(logits.shape)}.")
        target = torch.as_tensor(target).reshape(-1).long().to(logits.device)
        if target.numel() != logits.shape[0]:
            raise ValueError(f"LDAMLoss got {logits.shape[0]} logits but {target.numel()} labels.")
        logits = torch.as_tensor(logits).float()  # margins and the scale s in fp32 even under autocast
        margin = self.margins.to(logits.device)[target]
        if self.scaled_logits:  # s * (cos - m) == s * cos - s * m
            shifted = logits - F.one_hot(target, self.num_classes).to(logits.dtype) * (self.s * margin[:, None])
        else:
            shifted = self.s * (logits - F.one_hot(target, self.num_classes).to(logits.dtype) * margin[:, None])
        weight = None if self.weight is None else self.weight.to(logits.device)
        return F.cross_entropy(shifted, target, weight=weight)
