"""MONAI's SupervisedEvaluator with mixed precision on the device actually used and channels-last inputs.

MONAI 1.6.1 evaluates under ``torch.autocast("cuda")`` whatever the device, so ``amp=True`` stays fp32 on a CPU.
"""

from __future__ import annotations

from typing import Any

import torch
from monai.engines import SupervisedEvaluator as _MonaiSupervisedEvaluator
from monai.engines.utils import IterationEvents
from monai.utils.enums import CommonKeys as Keys

from monai_pipelines.engines.amp import autocast
from monai_pipelines.engines.inference_network import frozen_for_inference
from monai_pipelines.engines.run_settings import takes_run_settings
from monai_pipelines.engines.supervised_trainer import compile_inputs, finish_output, unpack_batch

__all__ = ["SupervisedEvaluator"]


@takes_run_settings
class SupervisedEvaluator(_MonaiSupervisedEvaluator):
    """``monai.engines.SupervisedEvaluator`` whose ``amp`` works on every device; same events and output keys.

    Args:
        amp_dtype: "bf16" or "fp16" (None: bf16 on CPU and on CUDA that supports it, else fp16).
        channels_last: move inputs (and, on the first batch, the network) to channels-last(-3d) memory layout.
        grad_clip_norm: accepted for a uniform signature with the trainer; unused in evaluation.
        freeze: on the first batch, freeze a copy of the network for inference (:func:`frozen_for_inference`) and
            run that; only for commands that do not train the network afterwards (inference), never validation.
        other args: as ``monai.engines.SupervisedEvaluator``. Predictions are returned in fp32.
    """

    def __init__(
        self,
        *args: Any,
        amp_dtype: str | torch.dtype | None = None,
        channels_last: bool = False,
        grad_clip_norm: float | None = None,
        freeze: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.freeze = freeze
        self._frozen: Any = None
        if amp_dtype is None and isinstance(self.amp_kwargs.get("dtype"), torch.dtype):
            amp_dtype = self.amp_kwargs["dtype"]
        self.amp_dtype = amp_dtype
        self.channels_last = channels_last
        self.grad_clip_norm = grad_clip_norm
        self._channels_last_done = False

    def _iteration(self, engine: SupervisedEvaluator, batchdata: dict[str, torch.Tensor]) -> dict:
        """One evaluation step; returns IMAGE, LABEL, PRED like MONAI and fires the same IterationEvents."""
        inputs, targets, args, kwargs = unpack_batch(engine, batchdata)
        engine.state.output = {Keys.IMAGE: inputs, Keys.LABEL: targets}
        net_in, _, meta = compile_inputs(engine, inputs, targets)
        with engine.mode(engine.network), autocast(engine.state.device, engine.amp, engine.amp_dtype):
            engine.state.output[Keys.PRED] = engine.inferer(net_in, self._predictor(), *args, **kwargs)
        finish_output(engine.state.output, meta)
        engine.fire_event(IterationEvents.FORWARD_COMPLETED)
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output

    def _predictor(self) -> Any:
        """The network, or its frozen copy (made once) when ``freeze``."""
        if not self.freeze:
            return self.network
        if self._frozen is None:
            self._frozen = frozen_for_inference(self.network)
        return self._frozen
