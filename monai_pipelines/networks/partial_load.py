"""Copy the weights of a state dict that fit a network into it, and say what was loaded and what was not.

``nn.Module.load_state_dict(strict=False)`` still fails on a shape mismatch and reports no loaded keys; fine-tuning
from another run or from published weights needs the matching subset loaded and the rest named.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["LoadReport", "load_matching_weights"]

logger = logging.getLogger("monai_pipelines")


@dataclass
class LoadReport:
    """What a partial load did: keys loaded, keys of the network left as they were, keys of the file not used."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in vars(self).items()}

    def summary(self, examples: int = 5) -> str:
        """``loaded N, missing N [...], unexpected N [...], shape-mismatched N [...]`` (first ``examples`` keys)."""
        def part(name: str, keys: list[str]) -> str:
            shown = f" {keys[:examples]}" + (" ..." if len(keys) > examples else "") if keys else ""
            return f"{name} {len(keys)}{shown}"

        return ", ".join([f"loaded {len(self.loaded)}", part("missing", self.missing),
                          part("unexpected", self.unexpected), part("shape-mismatched", self.mismatched)])


def load_matching_weights(
    network: nn.Module,
    state: Mapping[str, torch.Tensor],
    adapt: Callable[[str, torch.Tensor, torch.Tensor], torch.Tensor | None] | None = None,
) -> LoadReport:
    """Load every entry of ``state`` whose key and shape match ``network``'s; returns the :class:`LoadReport`.

    Args:
        adapt: ``(key, source, target) -> tensor or None`` for a shape mismatch (e.g. spread a 1-channel kernel
            over more input channels); None leaves the key mismatched.
    """
    own = network.state_dict()
    report = LoadReport()
    to_load: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key not in own:
            report.unexpected.append(key)
            continue
        if value.shape != own[key].shape:
            value = adapt(key, value, own[key]) if adapt is not None else None
            if value is None:
                report.mismatched.append(key)
                continue
        to_load[key] = value.to(own[key].dtype)
    report.loaded = sorted(to_load)
    report.missing = sorted(k for k in own if k not in to_load)
    network.load_state_dict(to_load, strict=False)
    return report
