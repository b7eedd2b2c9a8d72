"""MM-GAN generator and discriminator (Sharma & Hamarneh, "Missing MRI Pulse Sequence Synthesis using Multi-Modal GAN").

MONAI has neither network: its UNet/BasicUNet use other blocks, and no MONAI discriminator has one
output channel per sequence. Block layout follows the public MM-GAN reference (trane293/mm-gan).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MMGANDiscriminator", "MMGANGenerator", "init_normal_"]


def init_normal_(net: nn.Module, std: float = 0.02) -> nn.Module:
    """Initialise every (transposed) convolution weight with N(0, std) and zero its bias, as MM-GAN does."""
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(module.weight, 0.0, std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.InstanceNorm2d) and module.affine:
            nn.init.normal_(module.weight, 1.0, std)
            nn.init.zeros_(module.bias)
    return net


def _down(in_ch: int, out_ch: int, normalize: bool, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, 4, stride=2, padding=1, bias=False)]
    if normalize:
        layers.append(nn.InstanceNorm2d(out_ch))
    layers.append(nn.LeakyReLU(0.2))
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class _Up(nn.Module):
    """Transposed conv x2 + instance norm + ReLU (+ dropout), then concatenation with the encoder skip."""

    def __init__(self, in_ch: int, out_ch: int, dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1, bias=False),
            nn.InstanceNorm2d(out_ch),
            nn.ReLU(inplace=True),
        ]
        if dropout:
            layers.append(nn.Dropout(dropout))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.model(x), skip), dim=1)


class MMGANGenerator(nn.Module):
    """U-Net generator: ``num_downs`` encoder blocks, ``num_downs - 1`` decoder blocks with skips, ReLU output.

    With the defaults (8 encoder / 7 decoder blocks, 64 features) a 256x256 input reaches 1x1 at the
    bottleneck; the input side must be divisible by ``2 ** num_downs``. Encoder widths are
    ``features * min(2 ** i, 8)``; the first and the innermost encoder blocks have no instance norm
    (the innermost map is 1x1 at full size); ``dropout`` applies to the blocks of the widest width.
    The output layer upsamples x2, pads (1, 0, 1, 0) and applies a 4x4 convolution, then ReLU
    (intensities are non-negative).

    Args:
        in_channels: sequences in (T1, T2, PD: 3), missing ones imputed.
        out_channels: sequences out.
        features: width of the first encoder block.
        num_downs: encoder blocks (8 for 256x256; fewer for smaller demo slices).
        dropout: dropout probability of the widest blocks (MM-GAN reference: 0.2).
        output_activation: "relu" (MM-GAN for non-negative MR intensities), "tanh" or None.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        features: int = 64,
        num_downs: int = 8,
        dropout: float = 0.2,
        output_activation: str | None = "relu",
        init_std: float = 0.02,
    ) -> None:
        super().__init__()
        if num_downs < 2:
            raise ValueError(f"num_downs must be at least 2, got {num_downs}.")
        widths = [features * min(2**i, 8) for i in range(num_downs)]
        widest = features * 8
        self.downs = nn.ModuleList()
        prev = in_channels
        for i, width in enumerate(widths):
            normalize = 0 < i < num_downs - 1
            self.downs.append(_down(prev, width, normalize, dropout if width == widest else 0.0))
            prev = width
        self.ups = nn.ModuleList()
        for j in range(1, num_downs):
            out = widths[num_downs - 1 - j]
            in_ch = widths[-1] if j == 1 else 2 * widths[num_downs - j]
            self.ups.append(_Up(in_ch, out, dropout if out == widest else 0.0))
        final: list[nn.Module] = [
            nn.Upsample(scale_factor=2),
            nn.ZeroPad2d((1, 0, 1, 0)),
            nn.Conv2d(2 * widths[0], out_channels, 4, padding=1),
        ]
        activations = {"relu": nn.ReLU(), "tanh": nn.Tanh(), None: None}
        if output_activation not in activations:
            raise ValueError(f"output_activation must be 'relu', 'tanh' or None, got {output_activation!r}.")
        if activations[output_activation] is not None:
            final.append(activations[output_activation])
        self.final = nn.Sequential(*final)
        self.num_downs = num_downs
        init_normal_(self, init_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = 2**self.num_downs
        if x.shape[-1] % factor != 0 or x.shape[-2] % factor != 0:
            raise ValueError(f"input size {list(x.shape[-2:])} is not divisible by 2**num_downs = {factor}.")
        skips: list[torch.Tensor] = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        for i, up in enumerate(self.ups):  # indexing, not reversed(): TorchScript scripts it
            x = up(x, skips[-(i + 2)])
        return self.final(x)


class MMGANDiscriminator(nn.Module):
    """Patch discriminator with one output channel per sequence: 16x16 x ``out_channels`` for 256x256 input.

    Four stride-2 conv blocks (64, 128, 256, 512 features; instance norm after all but the first;
    LeakyReLU 0.2), then ZeroPad2d((1, 0, 1, 0)) and a 4x4 conv with padding 1. The input is the
    channel concatenation of condition and image (the conditional GAN engine builds it).

    Args:
        in_channels: channels of concat(condition, image), 6 for three sequences.
        out_channels: one per sequence, so real/fake targets can differ per sequence.
    """

    def __init__(self, in_channels: int = 6, out_channels: int = 3, features: int = 64, init_std: float = 0.02) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_channels
        for i in range(4):
            width = features * 2**i
            layers.append(nn.Conv2d(prev, width, 4, stride=2, padding=1))
            if i > 0:
                layers.append(nn.InstanceNorm2d(width))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            prev = width
        layers += [nn.ZeroPad2d((1, 0, 1, 0)), nn.Conv2d(prev, out_channels, 4, padding=1, bias=False)]
        self.model = nn.Sequential(*layers)
        init_normal_(self, init_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
