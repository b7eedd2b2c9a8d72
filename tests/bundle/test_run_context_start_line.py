"""The start line names the precision the run really computes in: fp32, bf16 autocast, or fp16 with loss scaling."""

from __future__ import annotations

import pytest
from monai.bundle import ConfigParser


@pytest.mark.parametrize("amp,dtype,said", [
    (False, None, "(fp32, 0 loader workers"),
    (True, "bf16", "(bf16 autocast, channels_last, 0 loader workers"),
    (True, "fp16", "(fp16 autocast with loss scaling, channels_last, 0 loader workers"),
])
def test_start_line_names_the_precision(amp, dtype, said, tmp_path, native_bf16):
    parser = ConfigParser({"run_context": {"_target_": "monai_pipelines.bundle.RunContext", "command": "training"},
                           "device": "cpu", "amp": amp, "amp_dtype": dtype, "channels_last": amp, "num_workers": 0,
                           "output_dir": str(tmp_path), "seed": 0})
    line = parser.get_parsed_content("run_context").start_line()
    assert line.startswith(f"training: device cpu {said}"), line
    assert "rank" not in line  # not under torchrun
