"""U-Net with a ResNet34 encoder and channel squeeze-and-excitation (cSE) in every decoder block.

Built on MONAI's ``FlexibleUNet`` (encoder, decoder, head) and ``ChannelSELayer`` (cSE). MONAI lacks the
attention: ``FlexibleUNet``'s decoder blocks (``UpCat``) have no SE option (segmentation_models.pytorch's
``decoder_attention_type``), so each block is wrapped here and its output recalibrated per channel.

Parameter count (resnet34, 4 classes, default decoder 256/128/64/32/16, r=16): 23,678,163 for 7 bands
(23,671,891 for 5, 23,703,251 for 15; 3,136 per band, the 7x7 stem). The seed's "11.2M" is the size of a ResNet18 encoder: the ResNet34
encoder alone has 21.3M parameters. Stored in fp32 that is ~95 MB; :meth:`GlacierUNet.compact_state_dict`
gives the half-precision weights (~47 MB) that the "checkpoint under 50 MB" target refers to.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from monai.networks.blocks import ChannelSELayer
from monai.networks.layers.utils import get_pool_layer
from monai.networks.nets import FlexibleUNet
from torch import nn

__all__ = ["GlacierUNet"]


class _SEDecoderBlock(nn.Module):
    """A FlexibleUNet decoder block followed by channel squeeze-and-excitation of its output."""

    def __init__(self, block: nn.Module, channels: int, reduction: int, spatial_dims: int) -> None:
        super().__init__()
        self.block = block
        self.se = ChannelSELayer(spatial_dims, channels, r=min(reduction, channels))

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        return self.se(self.block(x, skip))


class _ZeroPadShortcut(nn.Module):
    """MONAI ResNet's shortcut "A" (``ResNet._downsample_basic_block``, a ``functools.partial`` there) as a module.

    Same maths: strided 1x1 average pool, zero channels appended, no gradient through the shortcut (MONAI takes
    ``.data``); a module instead of a partial so that TorchScript can script the encoder. No parameters.
    """

    def __init__(self, planes: int, stride: int, spatial_dims: int) -> None:
        super().__init__()
        self.planes = planes
        self.pool = get_pool_layer(("avg", {"kernel_size": 1, "stride": stride}), spatial_dims=spatial_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.pool(x).detach()
        shape = list(out.shape)
        shape[1] = self.planes - shape[1]
        return torch.cat([out, torch.zeros(shape, dtype=out.dtype, device=out.device)], dim=1)


def _scriptable_shortcuts(encoder: nn.Module) -> None:
    """Replace every shortcut-A partial in a MONAI ResNet encoder by :class:`_ZeroPadShortcut` (state dict unchanged)."""
    for block in encoder.modules():
        downsample = getattr(block, "downsample", None)
        if isinstance(downsample, functools.partial):
            block.downsample = _ZeroPadShortcut(**downsample.keywords)


class _HalfPrecisionWeights:
    """state_dict/load_state_dict view of a module that saves half-precision weights (for final checkpoints)."""

    def __init__(self, module: GlacierUNet) -> None:
        self.module = module

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.compact_state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)


class GlacierUNet(FlexibleUNet):
    """ResNet U-Net (no pretrained weights) with cSE in every decoder block, any number of bands, any tile size.

    Args:
        in_channels: number of input bands (5 and 7 are the documented set-ups; any number works).
        out_channels: number of classes (background, clean ice, debris, lake).
        backbone: a FlexibleUNet ResNet backbone; "resnet34" as in the seed (smaller ones for quick tests).
        se_reduction: cSE bottleneck ratio r (channels / r hidden units; at least one).
    """

    def __init__(
        self,
        in_channels: int = 7,
        out_channels: int = 4,
        backbone: str = "resnet34",
        decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 16),
        spatial_dims: int = 2,
        se_reduction: int = 16,
        dropout: float = 0.0,
    ) -> None:
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}.")
        super().__init__(
            in_channels=in_channels,
            out_channels=out_channels,
            backbone=backbone,
            pretrained=False,
            decoder_channels=tuple(decoder_channels),
            spatial_dims=spatial_dims,
            dropout=dropout,
        )
        self.decoder.blocks = nn.ModuleList(
            _SEDecoderBlock(block, ch, se_reduction, spatial_dims)
            for block, ch in zip(self.decoder.blocks, decoder_channels)
        )
        _scriptable_shortcuts(self.encoder)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Logits (B, classes, H, W); any H, W: padded (replicate) to a multiple of 32 and cropped back."""
        padding: list[int] = []  # F.pad order: last dimension first, (before, after) each
        for dim in range(inputs.dim() - 1, 1, -1):
            padding += [0, (-inputs.shape[dim]) % 32]
        if max(padding) == 0:
            return self._logits(inputs)
        out = self._logits(F.pad(inputs, padding, mode="replicate"))
        for dim in range(2, inputs.dim()):
            out = out.narrow(dim, 0, inputs.shape[dim])
        return out

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        """FlexibleUNet's forward, spelled out: TorchScript cannot script ``super().forward``."""
        return self.segmentation_head(self.decoder(self.encoder(x), self.skip_connect))

    def compact_state_dict(self, dtype: torch.dtype = torch.float16) -> dict[str, torch.Tensor]:
        """Weights with floating-point tensors cast to ``dtype`` (half the size of fp32), for distribution."""
        return {k: v.to(dtype) if v.is_floating_point() else v for k, v in self.state_dict().items()}

    def half_precision(self) -> _HalfPrecisionWeights:
        """A save_dict entry whose checkpoint holds :meth:`compact_state_dict` (loads back into fp32 weights)."""
        return _HalfPrecisionWeights(self)
