"""CPU bf16 training: convolutions over tiny spatial sizes get fp32 weight gradients (oneDNN's bf16 ones are wrong)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from monai_pipelines.engines.amp import autocast
from monai_pipelines.engines.tiny_convolutions import TINY_SPATIAL_SIZE, TinyConvolutionsInFp32, needs_fp32

pytestmark = pytest.mark.usefixtures("native_bf16")

# (op, input shape, weight shape, stride, padding): shapes whose bf16 weight gradient oneDNN 3.12
# (jit_bf16:avx512_core_bf16, PyTorch 2.13) got wrong on an AVX512-BF16 CPU, by factors up to 1e32 or NaN
WRONG_IN_BF16 = [
    (F.conv3d, (2, 16, 2, 2, 2), (32, 16, 3, 3, 3), 1, 1),  # a U-Net's deepest level at a 16^3 patch
    (F.conv3d, (2, 16, 4, 2, 2), (32, 16, 4, 4, 4), 2, 1),
    (F.conv2d, (2, 16, 4, 1), (32, 16, 7, 7), 2, 3),
    (F.conv_transpose3d, (2, 16, 2, 1, 2), (16, 8, 4, 4, 4), 2, 1),
]


def _weight_gradient(op, x: torch.Tensor, weight: torch.Tensor, stride: int, padding: int, amp: bool):
    w = weight.clone().requires_grad_()
    with autocast("cpu", enabled=amp):
        y = op(x, w, stride=stride, padding=padding)
    y.float().backward(torch.linspace(-1, 1, y.numel()).reshape(y.shape))
    return y.dtype, w.grad


@pytest.mark.parametrize("op, x_shape, w_shape, stride, padding", WRONG_IN_BF16)
def test_tiny_convolutions_get_fp32_weight_gradients_in_training(op, x_shape, w_shape, stride, padding):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(x_shape, generator=g)
    weight = torch.randn(w_shape, generator=g) / w_shape[1] ** 0.5
    dtype, amp_grad = _weight_gradient(op, x, weight, stride, padding, amp=True)
    _, fp32_grad = _weight_gradient(op, x, weight, stride, padding, amp=False)
    error = (amp_grad - fp32_grad).abs().nan_to_num(float("inf")).max() / fp32_grad.abs().max()
    assert error < 0.02, f"weight gradient off by {error:.3g} of its largest value"  # a right bf16 kernel: < 0.01
    assert dtype == torch.float32  # it is exact: computed in fp32
    torch.testing.assert_close(amp_grad, fp32_grad)


def test_other_convolutions_stay_bf16():
    """Above the tiny size, without gradients (evaluation and inference agree) or for frozen weights."""
    conv = torch.nn.Conv3d(4, 8, 3, padding=1)
    big = torch.randn(1, 4, TINY_SPATIAL_SIZE[3] + 1, 8, 8)
    tiny = torch.randn(1, 4, TINY_SPATIAL_SIZE[3], 8, 8)
    conv2d = torch.nn.Conv2d(4, 8, 3, padding=1)
    with autocast("cpu", enabled=True):
        assert conv(big).dtype == torch.bfloat16
        assert conv(tiny).dtype == torch.float32
        assert conv2d(torch.randn(1, 4, 2, 2)).dtype == torch.bfloat16  # e.g. glacier's ResNet34 bottom at 64^2
        assert conv2d(torch.randn(1, 4, 1, 8)).dtype == torch.float32
    with torch.no_grad(), autocast("cpu", enabled=True):
        assert conv(tiny).dtype == torch.bfloat16
    conv.requires_grad_(False)
    with autocast("cpu", enabled=True):
        assert conv(tiny.requires_grad_()).dtype == torch.bfloat16  # only the input's gradient: right in bf16


def test_needs_fp32_only_under_cpu_bf16_autocast():
    x, w = torch.randn(1, 2, 1, 2), torch.randn(3, 2, 3, 3, requires_grad=True)
    assert not needs_fp32(x, w)  # no autocast
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert needs_fp32(x, w)
    with torch.autocast("cpu", dtype=torch.float16):
        assert not needs_fp32(x, w)


def test_the_mode_keeps_keyword_arguments_and_other_calls():
    x, w, b = torch.randn(1, 2, 1, 3), torch.randn(4, 2, 3, 3, requires_grad=True), torch.randn(4)
    with torch.autocast("cpu", dtype=torch.bfloat16), TinyConvolutionsInFp32():
        y = F.conv2d(input=x, weight=w, bias=b, padding=1)
        assert y.dtype == torch.float32
        assert (w @ w).dtype == torch.bfloat16
    torch.testing.assert_close(y, F.conv2d(x, w, b, padding=1))
