"""MONAI's SupervisedTrainer with mixed precision on the device actually used, channels-last and gradient clipping.

MONAI 1.6.1 autocasts with ``torch.autocast("cuda")`` and a CUDA GradScaler unconditionally, so ``amp=True`` stays
fp32 on a CPU; here autocast follows ``engine.state.device`` (bf16 on CPU) and the scaler is active only for fp16.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import torch
from monai.data import MetaTensor
from monai.engines import SupervisedTrainer as _MonaiSupervisedTrainer
from monai.engines.utils import IterationEvents
from monai.engines.workflow import Workflow
from monai.utils.enums import CommonKeys as Keys

from monai_pipelines.engines.amp import (
    autocast,
    grad_scaler,
    network_spatial_dims,
    network_to_channels_last,
    to_channels_last,
)
from monai_pipelines.engines.run_settings import takes_run_settings

__all__ = ["SupervisedTrainer"]


def plain_tensor(x: Any) -> Any:
    """``x`` without MONAI's metadata (a MetaTensor as a torch.Tensor sharing its storage); anything else unchanged.

    A training step needs no metadata, and every operation on a MetaTensor goes through its ``__torch_function__``:
    about 6 ms per step of the 3D U-Net, most of an iteration on a GPU, where a step is bound by launch overhead.
    """
    return x.as_tensor() if isinstance(x, MetaTensor) else x


def unpack_batch(engine: Any, batchdata: Any, keep_meta: bool = True) -> tuple[Any, Any, tuple, dict]:
    """``prepare_batch`` output as (inputs, targets, args, kwargs), inputs in channels-last layout when asked;
    ``keep_meta=False`` (training) drops MONAI's metadata from inputs and targets (:func:`plain_tensor`)."""
    if batchdata is None:
        raise ValueError("Must provide batch data for current iteration.")
    batch = engine.prepare_batch(batchdata, engine.state.device, engine.non_blocking, **engine.to_kwargs)
    inputs, targets, args, kwargs = (*batch, (), {}) if len(batch) == 2 else batch
    if not keep_meta:
        inputs, targets = plain_tensor(inputs), plain_tensor(targets)
    if engine.channels_last:
        # the network's own dimensionality: a 2D network may see whole volumes through a slice-wise inferer
        dims = network_spatial_dims(engine.network)
        if not engine._channels_last_done and dims is not None:
            network_to_channels_last(engine.network, dims)
            engine._channels_last_done = True
        if isinstance(inputs, torch.Tensor) and inputs.ndim == (dims or inputs.ndim - 2) + 2:
            inputs = to_channels_last(inputs)
    return inputs, targets, args, kwargs


def compile_inputs(engine: Any, inputs: Any, targets: Any) -> tuple[Any, Any, tuple | None]:
    """MONAI's torch.compile workaround: plain tensors into network and loss; returns the inputs' meta for PRED."""
    if not engine.compile:
        return inputs, targets, None
    meta = None
    if isinstance(inputs, MetaTensor):
        warnings.warn("compile: MetaTensor inputs go through the network as plain tensors.", stacklevel=2)
        meta = (inputs.meta, inputs.applied_operations)
        inputs = inputs.as_tensor()
    if isinstance(targets, MetaTensor):
        targets = targets.as_tensor()
    return inputs, targets, meta


def finish_output(output: dict, meta: tuple | None) -> None:
    """PRED gets the inputs' meta back (compile) and fp32 (reduced precision upsets numpy, metrics and writers)."""
    pred = output.get(Keys.PRED)
    if isinstance(pred, torch.Tensor) and pred.dtype in (torch.bfloat16, torch.float16):
        output[Keys.PRED] = pred = pred.float()
    if meta is not None and isinstance(pred, torch.Tensor):
        output[Keys.PRED] = MetaTensor(pred, meta=meta[0], applied_operations=meta[1])


@takes_run_settings
class SupervisedTrainer(_MonaiSupervisedTrainer):
    """``monai.engines.SupervisedTrainer`` whose ``amp`` works on every device; same events and output keys.

    Args:
        amp_dtype: "bf16" or "fp16" (None: bf16 on CPU and on CUDA that supports it, else fp16); a GradScaler is
            used only for fp16.
        channels_last: move inputs (and, on the first batch, the network) to channels-last(-3d) memory layout.
        grad_clip_norm: clip the global gradient norm to this value before each optimizer step (after unscaling);
            the norm before clipping is kept in ``engine.state.grad_norm`` (a 0-d tensor on the device).
        decollate: split the output into per-item dicts after each step (MONAI's default is True; False here: no
            training handler needs it, and it cost 8 ms per iteration of the 3D U-Net).
        optim_set_to_none: free the gradients before each step instead of zeroing them (PyTorch's default; MONAI's
            is False, which zeroes every gradient and then adds the new one to it: a zeroing pass and an addition
            more per gradient tensor, kernel launches on a GPU).
        loss_kwargs: loss keyword argument -> batch key, handed to ``loss_function`` with the prediction and target
            (e.g. ``{"dist_maps": "dist_maps"}``: maps the data pipeline computed, moved to the device with the batch).
        other args: as ``monai.engines.SupervisedTrainer``.
    """

    #: scalars of ``engine.state.output`` that logging and history record (the first is the loss)
    output_scalars: tuple[str, ...] = (Keys.LOSS,)

    def __init__(
        self,
        *args: Any,
        amp_dtype: str | torch.dtype | None = None,
        channels_last: bool = False,
        grad_clip_norm: float | None = None,
        decollate: bool = False,
        optim_set_to_none: bool = True,
        loss_kwargs: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, decollate=decollate, optim_set_to_none=optim_set_to_none, **kwargs)
        self.loss_kwargs = dict(loss_kwargs or {})
        if amp_dtype is None and isinstance(self.amp_kwargs.get("dtype"), torch.dtype):
            amp_dtype = self.amp_kwargs["dtype"]
        self.amp_dtype = amp_dtype
        self.channels_last = channels_last
        self.grad_clip_norm = grad_clip_norm
        self._channels_last_done = False
        self.state.grad_norm = None
        self.scaler = grad_scaler(self.state.device, self.amp, self.amp_dtype)

    def run(self) -> None:  # type: ignore[override]
        """As MONAI's, but with the GradScaler for the device used (made at construction, so a checkpoint can
        restore it before the run), enabled only for fp16."""
        Workflow.run(self)

    def _accumulation(self, engine: Any) -> tuple[bool, bool]:
        """(zero the gradients now, step the optimizer now), as MONAI decides them for ``accumulation_steps``."""
        acc = engine.accumulation_steps
        if acc <= 1:
            return True, True
        epoch_length = engine.state.epoch_length
        if epoch_length is not None:
            local = (engine.state.iteration - 1) % epoch_length
            return local % acc == 0, (local + 1) % acc == 0 or local + 1 == epoch_length
        local = engine.state.iteration - 1
        return local % acc == 0, (local + 1) % acc == 0

    def _loss_kwargs(self, engine: Any, batchdata: Any) -> dict[str, Any]:
        """The ``loss_kwargs`` of this batch, on the engine's device (plain tensors)."""
        if not self.loss_kwargs or not isinstance(batchdata, Mapping):
            return {}
        return {name: plain_tensor(batchdata[key]).to(engine.state.device, non_blocking=engine.non_blocking)
                for name, key in self.loss_kwargs.items() if key in batchdata}

    def _iteration(self, engine: SupervisedTrainer, batchdata: dict[str, torch.Tensor]) -> dict:
        """One training step; returns IMAGE, LABEL, PRED, LOSS like MONAI (plain tensors, not decollated) and fires
        the same IterationEvents."""
        inputs, targets, args, kwargs = unpack_batch(engine, batchdata, keep_meta=False)
        engine.state.output = {Keys.IMAGE: inputs, Keys.LABEL: targets}
        zero_grad, step = self._accumulation(engine)
        acc = engine.accumulation_steps
        scaler = engine.scaler if engine.scaler is not None else grad_scaler(engine.state.device, False)
        engine.network.train()
        if zero_grad:
            engine.optimizer.zero_grad(set_to_none=engine.optim_set_to_none)
        net_in, net_target, meta = compile_inputs(engine, inputs, targets)
        with autocast(engine.state.device, engine.amp, engine.amp_dtype):
            engine.state.output[Keys.PRED] = engine.inferer(net_in, engine.network, *args, **kwargs)
            engine.fire_event(IterationEvents.FORWARD_COMPLETED)
            engine.state.output[Keys.LOSS] = engine.loss_function(
                engine.state.output[Keys.PRED], net_target, **self._loss_kwargs(engine, batchdata)).mean()
            engine.fire_event(IterationEvents.LOSS_COMPLETED)
        loss = engine.state.output[Keys.LOSS]
        scaler.scale(loss / acc if acc > 1 else loss).backward()
        engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
        if step:
            if engine.grad_clip_norm is not None:
                scaler.unscale_(engine.optimizer)
                norm = torch.nn.utils.clip_grad_norm_(engine.network.parameters(), engine.grad_clip_norm)
                engine.state.grad_norm = norm.detach()  # not read here: a float() would wait for the GPU mid-step
            scaler.step(engine.optimizer)
            scaler.update()
        # detached as MONAI's decollation leaves them: handlers read values, and no graph outlives the step
        pred = engine.state.output[Keys.PRED]
        engine.state.output[Keys.PRED] = pred.detach() if isinstance(pred, torch.Tensor) else pred
        engine.state.output[Keys.LOSS] = loss.detach()
        finish_output(engine.state.output, meta)
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output
