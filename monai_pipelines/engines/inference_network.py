"""A network frozen for inference: TorchScript ``freeze`` + ``optimize_for_inference`` (batch norm folded into the
convolutions, oneDNN layouts for 3D convolutions on a CPU).

Measured on the 3D U-Net of mri_to_ct_unet3d (two threads, alternated, benchmarks/RESULTS.md): the real porcine
volume's inference command 17.7 s frozen vs 26.2 s eager in fp32 on a 2-core AVX512 CPU (119 vs 148 s on a loaded
AVX2 one). Frozen inside the evaluator's autocast context, the graph computes in bf16 as eager autocast does. Only for
a command that does not train the network afterwards: the frozen copy keeps the weights it had when it was made.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable

import torch
from monai.data import MetaTensor

__all__ = ["frozen_for_inference"]

logger = logging.getLogger("monai_pipelines")


def frozen_for_inference(network: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """A callable computing ``network.eval()`` faster, on plain tensors (MetaTensor inputs are unwrapped; the
    inferer puts the metadata back); ``network`` itself is left as it was. Falls back to ``network`` (logged) when
    it cannot be scripted."""
    module = network.module if isinstance(network, torch.nn.parallel.DistributedDataParallel) else network
    try:
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(copy.deepcopy(module).eval())))
    except Exception as e:  # noqa: BLE001 - any scripting failure means: run it eagerly
        logger.info("inference: %s cannot be frozen with TorchScript (%s); running it eagerly",
                    type(module).__name__, str(e).splitlines()[0] if str(e) else type(e).__name__)
        return network

    def forward(x: torch.Tensor) -> torch.Tensor:
        return frozen(x.as_tensor() if isinstance(x, MetaTensor) else x)

    return forward
