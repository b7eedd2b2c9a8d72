"""ResNet50-3D classifier (Bottleneck, [3, 4, 6, 3]), dropout + linear or cosine head, optionally MedicalNet-faithful.

Built on MONAI's ``ResNet`` (same module names, so MedicalNet/MONAI checkpoints match key for key). MONAI's ResNet
down-samples in every stage; MedicalNet (Chen et al. 2019) keeps layer3/layer4 at stride 1 with dilation 2/4, so with
``medicalnet=True`` those two stages are re-configured after construction: MedicalNet weights then compute
MedicalNet's features, which a plain ``monai.networks.nets.resnet50`` does not (its keys match, its strides don't).
``head="cosine"`` gives the normalised head of the official LDAM-DRW code (``NormedLinear``), which MONAI lacks.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.networks.nets.resnet import ResNet, ResNetBottleneck
from torch import nn

from monai_pipelines.networks.medicalnet import load_medicalnet_weights

__all__ = ["ResNet3D", "CosineLinear", "resnet50_3d", "RESNET50_LAYERS", "RESNET_WIDTHS", "HEADS"]

RESNET50_LAYERS = (3, 4, 6, 3)
RESNET_WIDTHS = (64, 128, 256, 512)
MEDICALNET_DILATIONS = {"layer3": 2, "layer4": 4}
HEADS = ("linear", "cosine")


class CosineLinear(nn.Module):
    """``scale * cos(x, w_j)`` per class: bounded logits, as LDAM's margins and scale assume (Cao et al. 2019).

    The official LDAM-DRW code's ``NormedLinear`` (returning the cosine; its loss multiplies by s) with the scale
    folded in here, so that softmax of the network output is the probability the loss trained. Weight shape
    (out_features, in_features) like ``nn.Linear``; no bias.
    """

    def __init__(self, in_features: int, out_features: int, scale: float = 30.0) -> None:
        super().__init__()
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}.")
        self.in_features, self.out_features, self.scale = in_features, out_features, float(scale)
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cosine = F.normalize(x.float(), dim=1) @ F.normalize(self.weight.float(), dim=1).t()
        return self.scale * cosine

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, scale={self.scale}"


def _dilate_stage(stage: nn.Sequential, dilation: int) -> None:
    """Make a Bottleneck stage stride 1 with ``dilation`` in every 3x3x3 conv (MedicalNet's ``_make_layer``)."""
    for block in stage:
        conv = block.conv2
        conv.stride = (1,) * len(conv.kernel_size)
        conv.dilation = (dilation,) * len(conv.kernel_size)
        conv.padding = (dilation,) * len(conv.kernel_size)
        block.stride = 1
        if isinstance(block.downsample, nn.Sequential):
            block.downsample[0].stride = (1,) * len(conv.kernel_size)


class ResNet3D(ResNet):
    """3D ResNet backbone + global average pool + dropout + linear head.

    Args:
        layers: blocks per stage; (3, 4, 6, 3) is ResNet-50.
        widths: base channels per stage (Bottleneck outputs 4x); (64, 128, 256, 512) is the standard ResNet.
        medicalnet: MedicalNet geometry (conv1 stride 2, layer3/layer4 stride 1 with dilation 2/4, shortcut B, no
            downsample bias). False gives a plain ResNet: conv1 stride 2 and stride 2 in layer2-4, no dilation.
        dropout: dropout probability before the head.
        head: "linear" (``nn.Linear``, the seed's) or "cosine" (``CosineLinear``: ``head_scale`` * cosine, for LDAM).
        head_scale: the cosine head's logit scale (LDAM's s).
    """

    def __init__(
        self,
        num_classes: int = 2,
        in_channels: int = 1,
        layers: Sequence[int] = RESNET50_LAYERS,
        widths: Sequence[int] = RESNET_WIDTHS,
        medicalnet: bool = True,
        dropout: float = 0.5,
        spatial_dims: int = 3,
        head: str = "linear",
        head_scale: float = 30.0,
    ) -> None:
        if len(layers) != 4 or len(widths) != 4:
            raise ValueError(f"layers and widths need 4 stages each, got {list(layers)} and {list(widths)}.")
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}.")
        super().__init__(
            block=ResNetBottleneck,
            layers=list(layers),
            block_inplanes=list(widths),
            spatial_dims=spatial_dims,
            n_input_channels=in_channels,
            conv1_t_size=7,
            conv1_t_stride=2,
            shortcut_type="B",
            feed_forward=False,
            bias_downsample=False,
        )
        self.medicalnet = medicalnet
        if medicalnet:
            for name, dilation in MEDICALNET_DILATIONS.items():
                _dilate_stage(getattr(self, name), dilation)
        self.num_features = widths[3] * ResNetBottleneck.expansion
        self.head = head
        self.dropout = nn.Dropout(dropout)
        if head == "cosine":
            self.fc: nn.Module = CosineLinear(self.num_features, num_classes, head_scale)
        else:
            self.fc = nn.Linear(self.num_features, num_classes)
            nn.init.zeros_(self.fc.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone feature map (N, C, d, h, w) before pooling."""
        x = self.act(self.bn1(self.conv1(x)))
        if not self.no_max_pool:
            x = self.maxpool(x)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = torch.flatten(self.avgpool(self.forward_features(x)), 1)
        return self.fc(self.dropout(features))


def resnet50_3d(
    num_classes: int = 2,
    in_channels: int = 1,
    dropout: float = 0.5,
    medicalnet: bool = True,
    widths: Sequence[int] = RESNET_WIDTHS,
    pretrained_path: str | os.PathLike | None = None,
    head: str = "linear",
    head_scale: float = 30.0,
) -> ResNet3D:
    """ResNet-50 3D classifier; smaller ``widths`` (e.g. (4, 8, 16, 32)) give the same topology for tests.

    Args:
        pretrained_path: a local MedicalNet checkpoint loaded into the backbone; None keeps the random init.
    """
    network = ResNet3D(
        num_classes=num_classes,
        in_channels=in_channels,
        layers=RESNET50_LAYERS,
        widths=widths,
        medicalnet=medicalnet,
        dropout=dropout,
        head=head,
        head_scale=head_scale,
    )
    if pretrained_path is not None:
        load_medicalnet_weights(network, pretrained_path)
    return network
