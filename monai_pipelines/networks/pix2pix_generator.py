"""The pix2pix U-Net generator (Isola et al. 2017), layer for layer as the reference implementation.

MONAI's UNet/BasicUNet differ in blocks, skips and output activation; this keeps the reference's module tree
(``model.model.1.model...``), so parameter counts match and reference ``*_net_G.pth`` state dicts load as they are.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from monai_pipelines.networks.init import init_weights

GENERATOR_DOWNS = {"unet_128": 7, "unet_256": 8, "unet_512": 9}


def norm_layer_2d(norm: str):
    """The reference's 2D norm factory: batch (affine, running stats) or instance (no affine, no running stats)."""
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    raise ValueError(f"norm must be 'batch' or 'instance', got {norm!r}.")


class _UnetSkipBlock(nn.Module):
    """One U-Net level: down conv, the inner block, up conv; the input is concatenated to the output (skip)."""

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        norm: str = "batch",
        use_dropout: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        norm_layer = norm_layer_2d(norm)
        use_bias = norm == "instance"  # batch norm has its own shift
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
        downrelu = nn.LeakyReLU(0.2, True)
        uprelu = nn.ReLU(True)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            layers = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            layers = [downrelu, downconv, uprelu, upconv, norm_layer(outer_nc)]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            layers = [downrelu, downconv, norm_layer(inner_nc), submodule, uprelu, upconv, norm_layer(outer_nc)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class Pix2PixUnetGenerator(nn.Module):
    """pix2pix U-Net: ``num_downs`` stride-2 levels (input side must be a multiple of 2**num_downs), tanh output.

    Args:
        num_downs: 7 for unet_128, 8 for unet_256, 9 for unet_512 (at least 5).
        ngf: filters of the outermost level; inner levels use 2/4/8 x ngf.
        norm: "batch" or "instance" (then convs carry biases, as in the reference).
        use_dropout: dropout 0.5 in the inner ngf*8 levels.
        init_type, init_gain: see :func:`monai_pipelines.networks.init.init_weights`; ``init_type=None`` skips it.
        residual: output ``clamp(x + G(x), -1, 1)`` (the U-Net predicts a tanh-bounded correction of its input) with
            the last up-convolution zero-initialised, so training starts from the identity; for tasks where input and
            target are close (same parameters and state-dict keys as the plain generator, which is the default).
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        num_downs: int = 8,
        ngf: int = 64,
        norm: str = "batch",
        use_dropout: bool = False,
        init_type: str | None = "normal",
        init_gain: float = 0.02,
        residual: bool = False,
    ) -> None:
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"num_downs must be >= 5, got {num_downs}.")
        if not isinstance(residual, bool):  # a CLI "false" string would silently switch it on
            raise ValueError(f"residual must be a bool (True/False), got {residual!r}.")
        if residual and in_channels != out_channels:
            raise ValueError(f"residual needs in_channels == out_channels, got {in_channels} and {out_channels}.")
        self.num_downs = num_downs
        self.residual = residual
        block = _UnetSkipBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(num_downs - 5):
            block = _UnetSkipBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, use_dropout=use_dropout)
        block = _UnetSkipBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = _UnetSkipBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = _UnetSkipBlock(ngf, ngf * 2, submodule=block, norm=norm)
        self.model = _UnetSkipBlock(out_channels, ngf, input_nc=in_channels, submodule=block, outermost=True, norm=norm)
        if init_type is not None:
            init_weights(self, init_type, init_gain)
        if residual:  # start as the identity: the last up-convolution (before tanh) outputs zeros
            last = self.model.model[3]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = 2**self.num_downs
        for size in x.shape[2:]:  # a loop, not any(<generator>): TorchScript scripts it
            if size % factor != 0:
                raise ValueError(
                    f"input spatial size {list(x.shape[2:])} must be a multiple of {factor} (2**num_downs={self.num_downs})."
                )
        if self.residual:
            return torch.clamp(x + self.model(x), -1.0, 1.0)
        return self.model(x)


def pix2pix_generator(name: str = "unet_256", in_channels: int = 1, out_channels: int = 1, **kwargs) -> Pix2PixUnetGenerator:
    """Generator by reference name: unet_128 / unet_256 / unet_512 = 7 / 8 / 9 downsamplings."""
    if name not in GENERATOR_DOWNS:
        raise ValueError(f"generator name must be one of {sorted(GENERATOR_DOWNS)}, got {name!r}.")
    return Pix2PixUnetGenerator(in_channels, out_channels, num_downs=GENERATOR_DOWNS[name], **kwargs)
