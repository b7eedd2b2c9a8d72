"""The boundary loss's signed distance maps of a label, computed in the data pipeline instead of the training step.

Ours because MONAI's distance transforms do not give Kervadec's per-class signed maps (see
:func:`~monai_pipelines.losses.boundary_loss.signed_distance_maps`). Computed in the step they are CPU work on the
main process between the forward and the backward: 28.5 ms per batch of 32 labels of 64^2 with 4 classes on a 2-core
CPU (scipy), more than a whole GPU step of the glacier network; here DataLoader workers compute them with the other
augmentation, after the last spatial transform, and the trainer hands them to the loss (``loss_kwargs``). With numba
installed, 2D labels take the compiled kernel (:mod:`~monai_pipelines.losses.signed_distance_kernel`, about 3x faster).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.transforms import MapTransform, Transform

from monai_pipelines.losses.boundary_loss import signed_distance_maps

__all__ = ["SignedDistanceMaps", "SignedDistanceMapsD", "SignedDistanceMapsDict", "SignedDistanceMapsd"]


class SignedDistanceMaps(Transform):
    """Channel-first integer label (1, *spatial) -> float32 (num_classes, *spatial) signed distance maps;
    ``include_background=False`` leaves class 0's at 0, for a boundary loss that does not read them."""

    def __init__(self, num_classes: int, include_background: bool = True) -> None:
        self.num_classes = int(num_classes)
        self.include_background = bool(include_background)

    def __call__(self, label: NdarrayOrTensor) -> torch.Tensor:
        data = label.detach().cpu().numpy() if isinstance(label, torch.Tensor) else np.asarray(label)
        maps = signed_distance_maps(data[None].astype(np.int64), self.num_classes,
                                    include_background=self.include_background)
        return torch.from_numpy(maps[0])


class SignedDistanceMapsd(MapTransform):
    """Dictionary wrapper: writes the signed distance maps of ``keys`` (a label) under ``output_key``."""

    backend = [torch.Tensor, np.ndarray]

    def __init__(self, keys: KeysCollection, num_classes: int, output_key: str = "dist_maps",
                 include_background: bool = True, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.output_key = output_key
        self.transform = SignedDistanceMaps(num_classes, include_background)

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[self.output_key] = self.transform(d[key])
        return d


SignedDistanceMapsD = SignedDistanceMapsDict = SignedDistanceMapsd
