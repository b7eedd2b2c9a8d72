"""bf16 training on a CPU, every bundle: convolutions over tiny spatial sizes train in fp32, all others in bf16.

Found in the bad-input corpus: mri_to_ct's tiny training under bf16 went NaN in 3 of 10 runs with the same seed
(and its losses differed run to run from the 2nd iteration): oneDNN's bf16 weight gradients at the 16^3 patch's
2^3 bottom were garbage (monai_pipelines.engines.tiny_convolutions). The tiny networks of these tests have such
layers in every bundle (a 3D bottom of 2, a 2D bottom of 1).
"""

from __future__ import annotations

import pytest
import torch
from torch.nn.modules.conv import _ConvNd

from monai_pipelines.engines.tiny_convolutions import tiny_input
from tests.bundles.runner import BUNDLES, run_bundle
from tests.bundles.test_bad_inputs import TINY_NETWORKS, _tiny_training


@pytest.mark.usefixtures("native_bf16")
@pytest.mark.parametrize("bundle", BUNDLES)
def test_training_keeps_only_tiny_convolutions_in_fp32(bundle, tmp_path):
    overrides = {**_tiny_training(bundle, tmp_path / "data"), **TINY_NETWORKS.get(bundle, {}), "amp": True,
                 "output_dir": str(tmp_path / "run")}
    trained: list[tuple[bool, torch.dtype]] = []  # (tiny input, output dtype) of each convolution with gradients

    def record(module: torch.nn.Module, args: tuple, output: object) -> None:
        if isinstance(module, _ConvNd) and torch.is_grad_enabled() and module.weight.requires_grad:
            trained.append((tiny_input(args[0]), output.dtype))

    hook = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        run_bundle(bundle, "training", **overrides)
    finally:
        hook.remove()
    tiny = {dtype for is_tiny, dtype in trained if is_tiny}
    other = {dtype for is_tiny, dtype in trained if not is_tiny}
    assert tiny == {torch.float32}, f"tiny convolutions computed in {tiny}"
    assert other == {torch.bfloat16}, f"other convolutions computed in {other}"
