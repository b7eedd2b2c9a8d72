"""AMP helpers: dtype choice per device, autocast on the device used, fp16-only GradScaler, channels-last layouts."""

from __future__ import annotations

import pytest
import torch

from monai_pipelines.engines.amp import amp_dtype, autocast, grad_scaler, network_to_channels_last, to_channels_last

pytestmark = pytest.mark.usefixtures("native_bf16")


def test_amp_dtype(monkeypatch):
    assert amp_dtype("cpu") == torch.bfloat16
    assert amp_dtype(torch.device("cpu"), "fp16") == torch.float16
    assert amp_dtype("cpu", "bfloat16") == torch.bfloat16
    assert amp_dtype("cpu", torch.float16) == torch.float16
    with pytest.raises(ValueError, match="amp dtype must be one of"):
        amp_dtype("cpu", "fp8")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert amp_dtype("cuda") == torch.float16  # e.g. a V100
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert amp_dtype("cuda:0") == torch.bfloat16


def test_autocast_cpu():
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with autocast("cpu", enabled=True):
        assert (a @ b).dtype == torch.bfloat16
    with autocast(torch.device("cpu"), enabled=True, dtype="fp16"):
        assert (a @ b).dtype == torch.float16
    with autocast("cpu", enabled=False):
        assert (a @ b).dtype == torch.float32
        assert not torch.is_autocast_enabled("cpu")


def test_grad_scaler_only_for_fp16():
    assert not grad_scaler("cpu", enabled=True).is_enabled()  # bf16 on CPU: no loss scaling
    assert grad_scaler("cpu", enabled=True, dtype="fp16").is_enabled()
    assert not grad_scaler("cpu", enabled=False, dtype="fp16").is_enabled()


def test_to_channels_last():
    x4, x5 = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5, 6)
    y4, y5 = to_channels_last(x4), to_channels_last(x5)
    assert y4.is_contiguous(memory_format=torch.channels_last) and torch.equal(y4, x4)
    assert y5.is_contiguous(memory_format=torch.channels_last_3d) and torch.equal(y5, x5)
    assert not x5.is_contiguous(memory_format=torch.channels_last_3d)  # the check above can fail
    x3 = torch.randn(2, 3, 4)
    assert to_channels_last(x3) is x3
    assert to_channels_last("not a tensor") == "not a tensor"


@pytest.mark.parametrize("dims", [2, 3])
def test_network_to_channels_last(dims):
    conv = torch.nn.Conv2d if dims == 2 else torch.nn.Conv3d
    fmt = torch.channels_last if dims == 2 else torch.channels_last_3d
    net = torch.nn.Sequential(conv(2, 4, 3), torch.nn.ReLU(), conv(4, 1, 1))
    x = torch.randn(1, 2, *(6,) * dims)
    expected = net(x)
    out = network_to_channels_last(net, dims)
    assert out is net and all(m.weight.is_contiguous(memory_format=fmt) for m in net if isinstance(m, conv))
    torch.testing.assert_close(net(to_channels_last(x)), expected)


def test_amp_stays_fp32_where_the_cpu_only_emulates_bf16(monkeypatch, caplog):
    """bf16 autocast on an AVX2-only CPU measured 60x slower than fp32 for the 3D U-Net: amp then computes fp32."""
    from monai_pipelines.engines import amp

    monkeypatch.setattr(amp, "cpu_has_native_bf16", lambda: False)
    amp._warn_emulated_bf16.cache_clear()
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    caplog.set_level("WARNING")
    with autocast("cpu", enabled=True):
        assert (a @ b).dtype == torch.float32
    assert "no native bf16" in caplog.text
    with autocast("cpu", enabled=True, dtype="fp16"):  # asked for fp16 explicitly: as asked
        assert (a @ b).dtype == torch.float16
    assert amp.amp_enabled("cuda", True)  # the check is about CPUs only


def test_evaluator_channels_last_with_a_2d_network_on_volumes():
    """A 2D network evaluated slice by slice on whole volumes (pix2pix's evaluator): channels_last follows the
    network's dimensionality, not the 5D input's (failed: "required rank 5 tensor to use channels_last_3d")."""
    from monai.inferers import SliceInferer

    from monai_pipelines.engines import SupervisedEvaluator

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 1, 1))
    volume = torch.rand(1, 1, 8, 8, 5)
    expected = SliceInferer(spatial_dim=2, roi_size=(8, 8))(volume, net)
    evaluator = SupervisedEvaluator(device=torch.device("cpu"), val_data_loader=[{"image": volume, "label": volume}],
                                    network=net, inferer=SliceInferer(spatial_dim=2, roi_size=(8, 8)),
                                    channels_last=True)
    evaluator.run()
    assert net[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(evaluator.state.output[0]["pred"] if isinstance(evaluator.state.output, list)
                          else evaluator.state.output["pred"], expected, atol=1e-6)
