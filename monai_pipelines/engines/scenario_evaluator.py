"""Evaluates missing-sequence synthesis under every scenario: PSNR and SSIM on the synthesised channels only.

MONAI's evaluators run one input per batch through one network; MM-GAN is scored by re-masking each batch
under all six scenarios and measuring only the missing sequences, which needs its own iteration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from monai.engines import Evaluator
from monai.metrics import PSNRMetric, SSIMMetric
from monai.utils import min_version, optional_import

from monai_pipelines.engines.amp import autocast
from monai_pipelines.engines.run_settings import takes_run_settings
from monai_pipelines.transforms.scenario_mask import (
    ALL_SCENARIOS,
    SEQUENCES,
    apply_scenario,
    implicit_conditioning,
    scenario_mask,
)
from monai_pipelines.utils.enums import Keys

Events, _ = optional_import("ignite.engine", "0.4.11", min_version, "Events")

__all__ = ["ScenarioEvaluator"]


@takes_run_settings
class ScenarioEvaluator(Evaluator):
    """Masks each batch under every scenario, synthesises, and scores PSNR/SSIM per scenario and missing sequence.

    Images are (B, C, H, W) in [0, ``data_range``]. With ``network=None`` the imputed input itself is scored
    (the zero-imputation baseline). At the end of a run ``state.metrics`` holds ``{prefix}psnr`` and
    ``{prefix}ssim`` (means over scenarios of the per-scenario means) and ``{prefix}psnr_{scenario}`` etc.;
    :attr:`results` holds per-scenario means, standard deviations and per-sequence values, and
    :attr:`examples` the first ``n_examples`` (input, generated, ground truth) triples of every scenario.

    Args:
        scenarios: scenario codes to evaluate (default all six).
        impute: imputation of missing channels ("zeros" as MM-GAN).
        implicit_conditioning: copy available channels into the output (no effect on the scores, which cover
            missing channels only; kept for the example images).
        metric_prefix: prefix of the names in ``state.metrics`` ("val_" for validation).
    """

    def __init__(
        self,
        device: torch.device | str,
        val_data_loader: Any,
        network: torch.nn.Module | None = None,
        scenarios: Sequence[str] = ALL_SCENARIOS,
        impute: str = "zeros",
        implicit_conditioning: bool = True,
        image_key: str = Keys.IMAGE,
        data_range: float = 1.0,
        metric_prefix: str = "val_",
        n_examples: int = 2,
        amp: bool = False,
        amp_dtype: str | torch.dtype | None = None,
        epoch_length: int | None = None,
        non_blocking: bool = False,
        val_handlers: Sequence | None = None,
        prepare_batch: Callable | None = None,
    ) -> None:
        kwargs = {} if prepare_batch is None else {"prepare_batch": prepare_batch}
        super().__init__(
            device=device, val_data_loader=val_data_loader, epoch_length=epoch_length, non_blocking=non_blocking,
            val_handlers=None, amp=False, decollate=False, **kwargs,
        )
        self.network = network
        self.scenarios = [str(s) for s in scenarios]
        for s in self.scenarios:
            scenario_mask(s)
        self.impute = impute
        self.use_implicit_conditioning = implicit_conditioning
        self.image_key = image_key
        self.data_range = float(data_range)
        self.metric_prefix = metric_prefix
        self.n_examples = int(n_examples)
        self.amp, self.amp_dtype = bool(amp), amp_dtype
        self._psnr = PSNRMetric(max_val=self.data_range, reduction="none")
        self._ssim = SSIMMetric(spatial_dims=2, data_range=self.data_range, reduction="none")
        self.results: dict[str, dict[str, Any]] = {}
        self.examples: dict[str, list[dict[str, np.ndarray]]] = {}
        self._scores: dict[str, dict[str, list[torch.Tensor]]] = {}
        self.add_event_handler(Events.EPOCH_STARTED, self._reset)
        self.add_event_handler(Events.EPOCH_COMPLETED, self._summarise)
        if val_handlers is not None:  # after _summarise: their EPOCH_COMPLETED sees the scores in state.metrics
            self._register_handlers(val_handlers)

    def _reset(self, engine: ScenarioEvaluator) -> None:
        self._scores = {s: {"psnr": [], "ssim": []} for s in self.scenarios}
        self.examples = {s: [] for s in self.scenarios}

    def _image(self, batchdata: Any) -> torch.Tensor:
        image = batchdata[self.image_key] if isinstance(batchdata, dict) else batchdata[0]
        return torch.as_tensor(image).to(self.state.device, non_blocking=self.non_blocking).float()

    def _iteration(self, engine: ScenarioEvaluator, batchdata: Any) -> dict[str, Any]:
        image = engine._image(batchdata)
        if image.ndim != 4:
            raise ValueError(f"expected (B, C, H, W) images, got shape {tuple(image.shape)}.")
        if engine.network is not None:
            engine.network.eval()
        preds = {}
        with torch.no_grad():
            for scenario in engine.scenarios:
                mask = scenario_mask(scenario, device=image.device)
                condition = apply_scenario(image, mask, engine.impute)
                if engine.network is None:
                    pred = condition
                else:
                    with autocast(engine.state.device, engine.amp, engine.amp_dtype):
                        pred = engine.network(condition)
                    pred = pred.float()
                if engine.use_implicit_conditioning:
                    pred = implicit_conditioning(pred, image, mask)
                pred = pred.clamp(0, engine.data_range)
                missing = torch.nonzero(mask == 0).flatten().tolist()
                # (B, n_missing): per image and missing sequence
                p = torch.stack([engine._psnr(pred[:, [c]], image[:, [c]]).reshape(-1) for c in missing], 1)
                s = torch.stack([engine._ssim(pred[:, [c]], image[:, [c]]).reshape(-1) for c in missing], 1)
                engine._scores[scenario]["psnr"].append(p.cpu())
                engine._scores[scenario]["ssim"].append(s.cpu())
                engine._keep_examples(scenario, condition, pred, image)
                preds[scenario] = pred
        return {Keys.IMAGE: image, Keys.PRED: preds}

    def _keep_examples(self, scenario: str, condition: torch.Tensor, pred: torch.Tensor, image: torch.Tensor) -> None:
        kept = self.examples[scenario]
        for i in range(min(self.n_examples - len(kept), image.shape[0])):
            kept.append({"input": condition[i].cpu().numpy(), "pred": pred[i].cpu().numpy(),
                         "target": image[i].cpu().numpy()})

    def _gathered_scores(self) -> dict[str, dict[str, list[torch.Tensor]]]:
        """The scores of every rank (a sharded validation set under DDP), the same on all ranks."""
        dist = torch.distributed
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return self._scores
        parts: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(parts, self._scores)
        return {s: {k: [t for part in parts for t in part[s][k]] for k in ("psnr", "ssim")} for s in self._scores}

    def _summarise(self, engine: ScenarioEvaluator) -> None:
        results: dict[str, dict[str, Any]] = {}
        for scenario, scores in self._gathered_scores().items():
            if not scores["psnr"]:
                continue
            psnr, ssim = torch.cat(scores["psnr"]).double(), torch.cat(scores["ssim"]).double()
            psnr = psnr.clamp_max(100.0)  # identical images give inf; cap as is common for synthesis PSNR
            missing = [SEQUENCES[i].upper() for i, bit in enumerate(scenario) if bit == "0"]
            results[scenario] = {
                "missing": missing,
                "n_images": int(psnr.shape[0]),
                "psnr": float(psnr.mean()),
                "psnr_std": float(psnr.mean(1).std(unbiased=False)),
                "ssim": float(ssim.mean()),
                "ssim_std": float(ssim.mean(1).std(unbiased=False)),
                "per_sequence": {
                    seq: {"psnr": float(psnr[:, j].mean()), "ssim": float(ssim[:, j].mean())}
                    for j, seq in enumerate(missing)
                },
            }
        self.results = results
        prefix = self.metric_prefix
        if results:
            engine.state.metrics[f"{prefix}psnr"] = float(np.mean([r["psnr"] for r in results.values()]))
            engine.state.metrics[f"{prefix}ssim"] = float(np.mean([r["ssim"] for r in results.values()]))
        for scenario, r in results.items():
            engine.state.metrics[f"{prefix}psnr_{scenario}"] = r["psnr"]
            engine.state.metrics[f"{prefix}ssim_{scenario}"] = r["ssim"]
