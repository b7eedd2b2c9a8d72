"""Missing-sequence scenarios of MM-GAN: which of T1/T2/PD are available, imputation of the others.

MONAI has no notion of missing channels; this holds the six scenarios of three sequences, the zero
(or mean) imputation of the missing channels and MM-GAN's implicit conditioning.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform
from monai.utils import ensure_tuple
from monai.utils.enums import StrEnum

__all__ = [
    "ALL_SCENARIOS",
    "ONE_MISSING",
    "SEQUENCES",
    "TWO_MISSING",
    "Scenario",
    "ScenarioMask",
    "ScenarioMaskD",
    "ScenarioMaskDict",
    "ScenarioMaskd",
    "apply_scenario",
    "implicit_conditioning",
    "scenario_mask",
]

SEQUENCES: tuple[str, ...] = ("t1", "t2", "pd")


class Scenario(StrEnum):
    """Availability code, one bit per sequence in the order T1, T2, PD; 1 = available, 0 = missing."""

    MISSING_T1 = "011"
    MISSING_T2 = "101"
    MISSING_PD = "110"
    MISSING_T1_T2 = "001"
    MISSING_T1_PD = "010"
    MISSING_T2_PD = "100"


ONE_MISSING: tuple[Scenario, ...] = (Scenario.MISSING_T1, Scenario.MISSING_T2, Scenario.MISSING_PD)
TWO_MISSING: tuple[Scenario, ...] = (Scenario.MISSING_T1_T2, Scenario.MISSING_T1_PD, Scenario.MISSING_T2_PD)
ALL_SCENARIOS: tuple[Scenario, ...] = ONE_MISSING + TWO_MISSING


def scenario_mask(
    scenario: str | Scenario, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """The availability vector of ``scenario`` (shape ``(len(scenario),)``, 1 = available)."""
    code = str(scenario)
    if not code or set(code) - {"0", "1"}:
        raise ValueError(f"scenario must be a string of 0/1 bits (T1, T2, PD), got {scenario!r}.")
    if "1" not in code:
        raise ValueError(f"scenario {code!r} has no available sequence to condition on.")
    return torch.tensor([float(c) for c in code], device=device, dtype=dtype)


def _broadcast_mask(x: torch.Tensor, scenario_or_mask: str | Scenario | torch.Tensor, batched: bool) -> torch.Tensor:
    """Mask shaped to broadcast over ``x``: (C, 1, ...) for one image, (B|1, C, 1, ...) for a batch."""
    if isinstance(scenario_or_mask, torch.Tensor):
        mask = scenario_or_mask.to(device=x.device, dtype=x.dtype)
    else:
        mask = scenario_mask(scenario_or_mask, device=x.device, dtype=x.dtype)
    channel_dim = 1 if batched else 0
    n_channels = x.shape[channel_dim]
    if mask.ndim == 1:
        mask = mask.reshape((1,) * channel_dim + (-1,))
    if mask.shape[channel_dim] != n_channels:
        raise ValueError(f"scenario mask has {mask.shape[channel_dim]} channels but the image has {n_channels}.")
    return mask.reshape(mask.shape[: channel_dim + 1] + (1,) * (x.ndim - channel_dim - 1))


def apply_scenario(
    x: torch.Tensor, scenario_or_mask: str | Scenario | torch.Tensor, impute: str = "zeros", batched: bool = True
) -> torch.Tensor:
    """Replace the missing channels of ``x`` by the imputation value.

    Args:
        x: image ``(B, C, H, W[, D])`` (``batched``) or ``(C, H, W[, D])``.
        scenario_or_mask: a scenario code, or an availability mask of shape ``(C,)`` or ``(B, C[, 1, ...])``.
        impute: "zeros" (MM-GAN default) or "mean" (pixel-wise mean of the available channels).
    """
    mask = _broadcast_mask(x, scenario_or_mask, batched)
    if impute == "zeros":
        fill = torch.zeros_like(x)
    elif impute == "mean":
        channel_dim = 1 if batched else 0
        fill = (x * mask).sum(channel_dim, keepdim=True) / mask.sum(channel_dim, keepdim=True).clamp_min(1)
    else:
        raise ValueError(f"impute must be 'zeros' or 'mean', got {impute!r}.")
    return mask * x + (1 - mask) * fill


def implicit_conditioning(
    fake: torch.Tensor, real: torch.Tensor, mask: str | Scenario | torch.Tensor, batched: bool = True
) -> torch.Tensor:
    """MM-GAN's implicit conditioning: available channels copied from ``real``, missing ones kept from ``fake``.

    Gradients flow only through the synthesised channels, so the generator learns only those.
    """
    m = _broadcast_mask(fake, mask, batched)
    return m * real + (1 - m) * fake


class ScenarioMask(Transform):
    """Array transform: impute the channels missing in ``scenario`` of a channel-first image."""

    def __init__(self, scenario: str | Scenario, impute: str = "zeros") -> None:
        scenario_mask(scenario)  # validate early
        self.scenario = str(scenario)
        self.impute = impute

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        return apply_scenario(torch.as_tensor(img), self.scenario, self.impute, batched=False)


class ScenarioMaskd(MapTransform):
    """Dictionary wrapper of :class:`ScenarioMask`; writes to ``output_keys`` (default: in place)."""

    def __init__(
        self,
        keys: KeysCollection,
        scenario: str | Scenario,
        impute: str = "zeros",
        output_keys: KeysCollection | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.masker = ScenarioMask(scenario, impute)
        self.output_keys = self.keys if output_keys is None else ensure_tuple(output_keys)
        if len(self.output_keys) != len(self.keys):
            raise ValueError("output_keys must name one output per key.")

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key, out in zip(self.keys, self.output_keys):
            if key in d:
                d[out] = self.masker(d[key])
            elif not self.allow_missing_keys:
                raise KeyError(f"key {key!r} not found in the data.")
        return d


ScenarioMaskD = ScenarioMaskDict = ScenarioMaskd
