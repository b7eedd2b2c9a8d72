"""The seed's 3D U-Net for MRI -> CT: max-pool encoder, transposed-conv decoder, concatenated skips.

MONAI's BasicUNet is fixed at five levels and DynUNet downsamples by strided convolution; this is the
four-level max-pool U-Net the seed describes (blocks of conv-BN-ReLU twice, 1x1x1 output conv).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class ConvBlock(nn.Sequential):
    """(Conv - Norm - ReLU) x 2."""

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, norm: str = "batch"):
        conv = nn.Conv3d if spatial_dims == 3 else nn.Conv2d
        layers: list[nn.Module] = []
        for c_in in (in_channels, out_channels):
            layers += [conv(c_in, out_channels, 3, padding=1, bias=norm == "none"), _norm(norm, spatial_dims, out_channels)]
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class UpBlock(nn.Module):
    """Transposed-conv upsampling, concatenation with the encoder skip, then a ConvBlock."""

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, norm: str = "batch"):
        super().__init__()
        up = nn.ConvTranspose3d if spatial_dims == 3 else nn.ConvTranspose2d
        self.upsample = up(in_channels, out_channels, kernel_size=2, stride=2)
        self.conv = ConvBlock(spatial_dims, 2 * out_channels, out_channels, norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([self.upsample(x), skip], dim=1))


def _norm(name: str, spatial_dims: int, channels: int) -> nn.Module:
    if name == "batch":
        return (nn.BatchNorm3d if spatial_dims == 3 else nn.BatchNorm2d)(channels)
    if name == "instance":
        return (nn.InstanceNorm3d if spatial_dims == 3 else nn.InstanceNorm2d)(channels, affine=True)
    if name == "none":
        return nn.Identity()
    raise ValueError(f"norm must be 'batch', 'instance' or 'none', got {name!r}.")


class UNet3D(nn.Module):
    """U-Net with ``len(features)`` levels; spatial sizes must be divisible by ``2 ** (len(features) - 1)``.

    Args:
        features: channels per level, encoder to bottleneck (seed: 16, 32, 64, 128).
        norm: "batch" (seed), "instance" or "none".
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        features: Sequence[int] = (16, 32, 64, 128),
        norm: str = "batch",
        spatial_dims: int = 3,
    ):
        super().__init__()
        if len(features) < 2:
            raise ValueError(f"features needs at least two levels, got {tuple(features)}.")
        conv = nn.Conv3d if spatial_dims == 3 else nn.Conv2d
        pool = nn.MaxPool3d if spatial_dims == 3 else nn.MaxPool2d
        self.encoders = nn.ModuleList()
        channels = in_channels
        for f in features:
            self.encoders.append(ConvBlock(spatial_dims, channels, f, norm))
            channels = f
        self.pool = pool(2)
        self.decoders = nn.ModuleList()
        for f in reversed(features[:-1]):
            self.decoders.append(UpBlock(spatial_dims, channels, f, norm))
            channels = f
        self.output = conv(channels, out_channels, kernel_size=1)
        self.divisor = 2 ** (len(features) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips: list[torch.Tensor] = []
        for i, encoder in enumerate(self.encoders):
            if i > 0:
                x = self.pool(x)
            x = encoder(x)
            skips.append(x)
        for i, decoder in enumerate(self.decoders):
            x = decoder(x, skips[-(i + 2)])
        return self.output(x)
