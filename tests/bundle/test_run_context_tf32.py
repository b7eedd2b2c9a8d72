"""RunContext applies a config's ``tf32`` switch to both TensorFloat-32 flags (matmul and cuDNN)."""

from __future__ import annotations

import pytest
import torch
from monai.bundle import ConfigParser


@pytest.mark.parametrize("tf32", [True, False])
def test_tf32_switch_sets_matmul_and_cudnn_flags(tf32, tmp_path):
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = not tf32
        parser = ConfigParser({"run_context": {"_target_": "monai_pipelines.bundle.RunContext"}, "tf32": tf32,
                               "output_dir": str(tmp_path), "seed": 0})
        parser.get_parsed_content("run_context")._determinism()
        assert torch.backends.cuda.matmul.allow_tf32 is tf32 and torch.backends.cudnn.allow_tf32 is tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
