"""Curriculum over MM-GAN's missing-sequence scenarios, plus the conditional GAN engine hooks that apply them.

No MONAI handler schedules per-batch channel masks; this one draws a scenario for every batch from a
set that grows with the epoch (easy one-missing scenarios first) and keeps its RNG in ``state_dict``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import torch
from monai.utils import min_version, optional_import

from monai_pipelines.transforms.scenario_mask import (
    ALL_SCENARIOS,
    ONE_MISSING,
    Scenario,
    apply_scenario,
    implicit_conditioning,
    scenario_mask,
)

Events, _ = optional_import("ignite.engine", "0.4.11", min_version, "Events")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", "0.4.11", min_version, "Engine")

__all__ = ["CurriculumScenarios", "STAGES"]

logger = logging.getLogger("monai_pipelines")

# stage k of the curriculum -> its scenarios; stage 1 adds 001 and 010 but not the hardest-to-learn 100.
STAGES: tuple[tuple[Scenario, ...], ...] = (
    ONE_MISSING,
    ONE_MISSING + (Scenario.MISSING_T1_T2, Scenario.MISSING_T1_PD),
    ALL_SCENARIOS,
)


class CurriculumScenarios:
    """Gives each training batch a missing-sequence scenario, from a set that grows over three stages.

    With ``N = total_epochs`` and the 0-based epoch ``e = engine.state.epoch - 1`` (Ignite counts epochs
    from 1), the stage is 0 while ``3 * e < N`` (e in [0, N/3)), 1 while ``3 * e < 2 * N`` (e in
    [N/3, 2N/3)), else 2; i.e. the stage boundaries are ``ceil(N / 3)`` and ``ceil(2N / 3)`` in 0-based
    epochs, with no rounding of N/3 itself. For N = 60: Ignite epochs 1-20 use {011, 101, 110}, 21-40 add
    {001, 010}, 41-60 use all six. The scenario of each batch is drawn uniformly from the stage's set with a
    private ``torch.Generator`` seeded by ``seed``; its state is in :meth:`state_dict`, so a resumed run draws
    the same scenarios as an uninterrupted one.

    Engine hooks (pass the bound methods to the conditional GAN trainer):
    ``batch_transform`` masks the condition and returns ``extras = {"mask", "scenario"}``;
    ``generator_output_transform`` applies implicit conditioning; ``reconstruction_weight_fn`` weights the
    L1 term to the missing channels; ``discriminator_targets_fn`` gives per-sequence targets for fakes
    (1 for available, 0 for synthesised sequences; real targets are all ones).

    Args:
        total_epochs: N, the planned number of epochs (not the epochs left after a resume).
        seed: seed of the scenario generator.
        impute: imputation of missing channels, "zeros" (MM-GAN) or "mean".
        fixed_scenario: use this scenario for every batch (no curriculum), e.g. for ablations.
    """

    def __init__(
        self, total_epochs: int, seed: int = 42, impute: str = "zeros", fixed_scenario: str | None = None
    ) -> None:
        if total_epochs < 1:
            raise ValueError(f"total_epochs must be at least 1, got {total_epochs}.")
        self.total_epochs = int(total_epochs)
        self.seed = int(seed)
        self.impute = impute
        self.fixed_scenario = None if fixed_scenario is None else Scenario(str(fixed_scenario))
        self.generator = torch.Generator().manual_seed(self.seed)
        self.counts: dict[str, int] = {str(s): 0 for s in ALL_SCENARIOS}
        self.last_scenario: Scenario | None = None

    # ---- schedule --------------------------------------------------------------------------------
    def stage(self, epoch: int) -> int:
        """Curriculum stage (0, 1, 2) of the 0-based ``epoch``."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0 (0-based), got {epoch}.")
        if 3 * epoch < self.total_epochs:
            return 0
        if 3 * epoch < 2 * self.total_epochs:
            return 1
        return 2

    def scenarios(self, epoch: int) -> tuple[Scenario, ...]:
        """Scenarios allowed in the 0-based ``epoch``."""
        if self.fixed_scenario is not None:
            return (self.fixed_scenario,)
        return STAGES[self.stage(epoch)]

    def draw(self, epoch: int) -> Scenario:
        """Draw the scenario of one batch in the 0-based ``epoch`` (advances the private generator)."""
        allowed = self.scenarios(epoch)
        index = int(torch.randint(len(allowed), (1,), generator=self.generator).item())
        scenario = allowed[index]
        self.counts[str(scenario)] = self.counts.get(str(scenario), 0) + 1
        self.last_scenario = scenario
        return scenario

    # ---- Ignite ----------------------------------------------------------------------------------
    def attach(self, engine: Engine) -> None:
        """Log the scenario set at the start of every epoch where it changes."""
        engine.add_event_handler(Events.EPOCH_STARTED, self._epoch_started)

    def _epoch_started(self, engine: Engine) -> None:
        epoch = engine.state.epoch - 1
        if epoch == 0 or self.stage(epoch) != self.stage(epoch - 1) or engine.state.iteration == 0:
            names = ", ".join(str(s) for s in self.scenarios(epoch))
            logger.info(f"curriculum epoch {engine.state.epoch}/{self.total_epochs}: scenarios {{{names}}}")

    def state_dict(self) -> dict[str, Any]:
        return {
            "total_epochs": self.total_epochs,
            "seed": self.seed,
            "generator": self.generator.get_state(),
            "counts": dict(self.counts),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["total_epochs"]) != self.total_epochs:
            logger.warning(
                f"curriculum resumed with total_epochs={self.total_epochs} but was saved with "
                f"{int(state['total_epochs'])}; stage boundaries follow the new value."
            )
        self.seed = int(state["seed"])
        self.generator.set_state(state["generator"])
        self.counts = {str(k): int(v) for k, v in state["counts"].items()}

    # ---- conditional GAN engine hooks --------------------------------------------------------------
    def batch_transform(
        self, condition: torch.Tensor, target: torch.Tensor, engine: Engine | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Draw this batch's scenario and impute its missing channels in the condition."""
        epoch = 0 if engine is None else max(engine.state.epoch - 1, 0)
        scenario = self.draw(epoch)
        mask = scenario_mask(scenario, device=condition.device, dtype=condition.dtype)
        spatial = (1,) * (condition.ndim - 2)
        mask = mask.reshape(1, -1, *spatial).expand(condition.shape[0], -1, *spatial)  # (B, C, 1, ...)
        return apply_scenario(condition, mask, self.impute), target, {"mask": mask, "scenario": str(scenario)}

    @staticmethod
    def generator_output_transform(
        fake: torch.Tensor, condition: torch.Tensor, target: torch.Tensor, extras: dict[str, Any]
    ) -> torch.Tensor:
        """Implicit conditioning: the available sequences are copied from the target into the output."""
        return implicit_conditioning(fake, target, extras["mask"])

    @staticmethod
    def reconstruction_weight_fn(extras: dict[str, Any]) -> torch.Tensor:
        """Weight 1 on the missing channels, 0 on the available ones (L1 on synthesised sequences only)."""
        return 1.0 - extras["mask"]

    @staticmethod
    def discriminator_targets_fn(d_fake_logits: torch.Tensor, extras: dict[str, Any]) -> torch.Tensor:
        """Per-sequence targets of the discriminator on a fake: 1 for available, 0 for synthesised sequences."""
        mask = extras["mask"].to(dtype=d_fake_logits.dtype, device=d_fake_logits.device)
        return mask.reshape(mask.shape[:2] + (1,) * (d_fake_logits.ndim - 2)).expand_as(d_fake_logits)
