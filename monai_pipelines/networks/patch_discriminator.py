"""The pix2pix N-layer PatchGAN discriminator (70x70 receptive field for n_layers=3), as the reference implementation.

MONAI's PatchDiscriminator matches it only for n_layers <= 3 (it does not cap the width at 8 x ndf), returns the list
of all intermediate features and re-initialises itself; this one returns the logits map and keeps the reference's
module tree (``model.0``, ``model.2`` ...) so reference ``*_net_D.pth`` state dicts load.
"""

from __future__ import annotations

import torch
from torch import nn

from monai_pipelines.networks.init import init_weights
from monai_pipelines.networks.pix2pix_generator import norm_layer_2d


class NLayerDiscriminator(nn.Module):
    """PatchGAN: ``n_layers`` stride-2 convs, one stride-1 conv, then a 1-channel logits map (no sigmoid).

    For a 256x256 input and n_layers=3 the output is 30x30. ``in_channels`` is condition + image channels.
    """

    def __init__(
        self,
        in_channels: int = 2,
        ndf: int = 64,
        n_layers: int = 3,
        norm: str = "batch",
        out_channels: int = 1,
        init_type: str | None = "normal",
        init_gain: float = 0.02,
    ) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}.")
        norm_layer = norm_layer_2d(norm)
        use_bias = norm == "instance"
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=use_bias),
                norm_layer(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(nn.Conv2d(ndf * mult, out_channels, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)
        if init_type is not None:
            init_weights(self, init_type, init_gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
