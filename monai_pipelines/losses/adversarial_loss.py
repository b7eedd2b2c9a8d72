"""GAN losses on discriminator logits (vanilla / least squares / hinge) with scalar or per-element targets.

Built on MONAI's ``PatchAdversarialLoss`` for least squares with real/fake targets (``no_activation_leastsq``, i.e.
plain MSE as in pix2pix's lsgan). Ours elsewhere because MONAI's BCE is sigmoid + ``BCELoss`` (unstable and refused
under CUDA autocast; pix2pix uses BCE-with-logits), its hinge squashes logits with tanh first, and it accepts only a
bool target, while MM-GAN needs per-channel targets (real for available, fake for synthesised sequences).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.losses import PatchAdversarialLoss
from monai.utils.enums import StrEnum
from torch.nn.modules.loss import _Loss


class AdversarialMode(StrEnum):
    VANILLA = "vanilla"
    LSGAN = "lsgan"
    HINGE = "hinge"


class AdversarialLoss(_Loss):
    """``loss(prediction, target_is_real, for_discriminator)`` on raw discriminator outputs (no activation).

    Args:
        mode: "vanilla" (BCE with logits), "lsgan" (MSE to the label) or "hinge".
        real_label, fake_label: targets a bool ``target_is_real`` stands for (vanilla / lsgan).
        reduction: "mean", "sum" or "none" (element-wise loss map; a list for multi-scale input).

    ``prediction`` is a tensor or a list of tensors (multi-scale discriminators; the losses are averaged).
    ``target_is_real`` is a bool or a tensor of targets in [0, 1] (1 = real) broadcast to the prediction: its shape
    may be the prediction's or a prefix of it, e.g. (B, C) per channel for a (B, C, H, W) map. With hinge,
    ``for_discriminator=False`` gives the generator loss ``-D(x)`` for real targets (``+D(x)`` for fake ones); the
    other modes do not depend on it.
    """

    def __init__(
        self, mode: str = "vanilla", real_label: float = 1.0, fake_label: float = 0.0, reduction: str = "mean"
    ) -> None:
        super().__init__(reduction=reduction)
        if mode not in list(AdversarialMode):
            raise ValueError(f"adversarial loss mode must be one of {[m.value for m in AdversarialMode]}, got {mode!r}.")
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}.")
        self.mode = AdversarialMode(mode)
        self.real_label = float(real_label)
        self.fake_label = float(fake_label)
        self._monai_lsgan = PatchAdversarialLoss(
            reduction=reduction, criterion="least_squares", no_activation_leastsq=True
        )
        self._monai_lsgan.real_label, self._monai_lsgan.fake_label = self.real_label, self.fake_label

    def forward(
        self,
        prediction: torch.Tensor | Sequence[torch.Tensor],
        target_is_real: bool | torch.Tensor,
        for_discriminator: bool = True,
    ) -> torch.Tensor | list[torch.Tensor]:
        if isinstance(prediction, (list, tuple)):
            losses = [self._single(p, target_is_real, for_discriminator) for p in prediction]
            return losses if self.reduction == "none" else torch.stack(losses).mean()
        return self._single(prediction, target_is_real, for_discriminator)

    def _single(self, pred: torch.Tensor, target: bool | torch.Tensor, for_discriminator: bool) -> torch.Tensor:
        pred = pred.float()  # losses in fp32 under autocast
        if self.mode == AdversarialMode.LSGAN and isinstance(target, bool):
            loss = self._monai_lsgan(pred, target, for_discriminator=True)
            return loss[0] if isinstance(loss, list) else loss
        if self.mode == AdversarialMode.HINGE:
            real = self._target_map(pred, target, 1.0, 0.0)
            if for_discriminator:
                loss = real * F.relu(1.0 - pred) + (1.0 - real) * F.relu(1.0 + pred)
            else:
                loss = -(2.0 * real - 1.0) * pred
        else:
            labels = self._target_map(pred, target, self.real_label, self.fake_label)
            if self.mode == AdversarialMode.VANILLA:
                loss = F.binary_cross_entropy_with_logits(pred, labels, reduction="none")
            else:
                loss = (pred - labels) ** 2
        return self._reduce(loss)

    @staticmethod
    def _target_map(pred: torch.Tensor, target: bool | torch.Tensor, real: float, fake: float) -> torch.Tensor:
        """Targets shaped like ``pred``; tensor targets t in [0, 1] map to fake + t * (real - fake)."""
        if isinstance(target, bool):
            return torch.full_like(pred, real if target else fake)
        t = torch.as_tensor(target, device=pred.device, dtype=pred.dtype)
        if t.ndim > pred.ndim or tuple(t.shape) != tuple(pred.shape[: t.ndim]) and t.numel() != 1:
            raise ValueError(f"target of shape {tuple(t.shape)} does not broadcast to prediction {tuple(pred.shape)}.")
        t = t.reshape(*t.shape, *([1] * (pred.ndim - t.ndim))) if t.numel() != 1 else t.reshape(())
        return (fake + t * (real - fake)).expand_as(pred)

    def _reduce(self, loss: torch.Tensor) -> torch.Tensor:
        if self.reduction == "mean":
            return loss.mean()
        if self.reduction == "sum":
            return loss.sum()
        return loss
