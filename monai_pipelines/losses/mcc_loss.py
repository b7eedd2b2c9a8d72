"""Soft multi-class Matthews correlation loss: 1 - MCC of the soft confusion matrix (Gorodkin's R_K).

MONAI has no MCC loss. The confusion matrix is one-hot targets times softmax probabilities summed over all pixels
of the batch; with hard one-hot predictions it is the exact confusion matrix, so 1 - loss equals scikit-learn's
``matthews_corrcoef`` on those predictions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.modules.loss import _Loss

__all__ = ["MCCLoss", "mcc_from_confusion"]


def mcc_from_confusion(confusion: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Multi-class MCC from a (K, K) confusion matrix (rows true, columns predicted); 0 when undefined."""
    c = confusion.double()
    c = c / c.sum().clamp_min(eps)  # fractions: scale-free and well conditioned
    correct = torch.trace(c)
    true_k, pred_k = c.sum(1), c.sum(0)
    cov = correct - (true_k * pred_k).sum()
    denom = torch.sqrt((1.0 - (pred_k**2).sum()) * (1.0 - (true_k**2).sum()))
    return torch.where(denom > eps, cov / denom.clamp_min(eps), torch.zeros_like(cov))


class MCCLoss(_Loss):
    """1 - soft multi-class MCC over the whole batch.

    Args:
        softmax: apply softmax to ``input`` (False if it already holds probabilities or one-hot predictions).
    """

    def __init__(self, softmax: bool = True) -> None:
        super().__init__()
        self.softmax = softmax

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``input`` (B, K, *spatial); ``target`` (B, 1, *spatial) class indices or (B, K, *spatial) one-hot."""
        num_classes = input.shape[1]
        probs = torch.softmax(input.float(), dim=1) if self.softmax else input.float()
        if target.shape[1] == 1 and num_classes > 1:
            onehot = F.one_hot(target[:, 0].long(), num_classes).movedim(-1, 1).float()
        else:
            onehot = target.float()
        probs = probs.movedim(1, -1).reshape(-1, num_classes)
        onehot = onehot.movedim(1, -1).reshape(-1, num_classes)
        confusion = onehot.t() @ probs
        return (1.0 - mcc_from_confusion(confusion)).float()
