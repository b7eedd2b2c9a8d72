"""Weight initialisation of GAN networks as in pix2pix / MM-GAN (conv weights ~ N(0, gain), norm weights ~ N(1, gain)).

MONAI's ``normal_init`` covers only the normal case and leaves conv biases alone; pix2pix zeroes them and offers
xavier / kaiming / orthogonal too, so the published recipes need this one.
"""

from __future__ import annotations

import torch
from torch import nn

INIT_TYPES = ("normal", "xavier", "kaiming", "orthogonal")


def init_weights(net: nn.Module, init_type: str = "normal", gain: float = 0.02) -> nn.Module:
    """Initialise ``net`` in place and return it.

    Conv/linear weights by ``init_type`` (``normal``: N(0, gain); ``xavier``/``orthogonal``: with ``gain``;
    ``kaiming``: fan-in), their biases 0; BatchNorm weights N(1, gain), biases 0. Instance norms without affine
    parameters are untouched.
    """
    if init_type not in INIT_TYPES:
        raise ValueError(f"init_type must be one of {INIT_TYPES}, got {init_type!r}.")

    def _init(module: nn.Module) -> None:
        name = type(module).__name__
        weight = getattr(module, "weight", None)
        if not isinstance(weight, torch.Tensor):
            return
        if "Conv" in name or "Linear" in name:
            if init_type == "normal":
                nn.init.normal_(weight, 0.0, gain)
            elif init_type == "xavier":
                nn.init.xavier_normal_(weight, gain=gain)
            elif init_type == "kaiming":
                nn.init.kaiming_normal_(weight, a=0, mode="fan_in")
            else:
                nn.init.orthogonal_(weight, gain=gain)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
        elif "BatchNorm" in name:
            nn.init.normal_(weight, 1.0, gain)
            nn.init.zeros_(module.bias)

    with torch.no_grad():
        net.apply(_init)
    return net
