"""ResNet50-3D classifier (Bottleneck, [3, 4, 6, 3]) with a dropout + linear head, optionally MedicalNet-faithful.

Built on MONAI's ``ResNet`` (same module names, so MedicalNet/MONAI checkpoints match key for key). MONAI's ResNet
down-samples in every stage; MedicalNet (Chen et al. 2019) keeps layer3/layer4 at stride 1 with dilation 2/4, so with
``medicalnet=True`` those two stages are re-configured after construction: MedicalNet weights then compute
MedicalNet's features, which a plain ``monai.networks.nets.resnet50`` does not (its keys match, its strides don't).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from monai.networks.nets.resnet import ResNet, ResNetBottleneck
from torch import nn

from monai_pipelines.networks.medicalnet import load_medicalnet_weights

__all__ = ["ResNet3D", "resnet50_3d", "RESNET50_LAYERS", "RESNET_WIDTHS"]

RESNET50_LAYERS = (3, 4, 6, 3)
RESNET_WIDTHS = (64, 128, 256, 512)
MEDICALNET_DILATIONS = {"layer3": 2, "layer4": 4}


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
        dropout: dropout probability before the linear head.
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
    ) -> None:
        if len(layers) != 4 or len(widths) != 4:
            raise ValueError(f"layers and widths need 4 stages each, got {list(layers)} and {list(widths)}.")
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
        self.dropout = nn.Dropout(dropout)
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
    )
    if pretrained_path is not None:
        load_medicalnet_weights(network, pretrained_path)
    return network
