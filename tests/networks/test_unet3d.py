import numpy as np
import pytest
import torch

from monai_pipelines.networks import UNet3D


def test_seed_configuration_parameter_count_and_shape():
    net = UNet3D(in_channels=1, out_channels=1, features=(16, 32, 64, 128))
    # 16/32/64/128 with conv-BN-ReLU x2 and transposed-conv upsampling: 1.40 M (the seed's "10.61 M" does not
    # correspond to these features)
    assert sum(p.numel() for p in net.parameters()) == 1_401_265
    out = net(torch.rand(1, 1, 16, 24, 32))
    assert out.shape == (1, 1, 16, 24, 32)


def test_blocks_follow_the_seed():
    net = UNet3D(features=(4, 8, 16, 32))
    assert len(net.encoders) == 4 and len(net.decoders) == 3
    kinds = [type(m).__name__ for m in net.encoders[0]]
    assert kinds == ["Conv3d", "BatchNorm3d", "ReLU", "Conv3d", "BatchNorm3d", "ReLU"]
    assert isinstance(net.pool, torch.nn.MaxPool3d)
    assert net.output.kernel_size == (1, 1, 1)


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_norms_and_2d(norm):
    net = UNet3D(in_channels=2, out_channels=3, features=(4, 8), norm=norm, spatial_dims=2)
    assert net(torch.rand(2, 2, 8, 8)).shape == (2, 3, 8, 8)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="norm"):
        UNet3D(norm="group")
    with pytest.raises(ValueError, match="two levels"):
        UNet3D(features=(8,))


def test_torchscript_matches_eager():
    net = UNet3D(features=(4, 8, 16)).eval()
    x = torch.rand(1, 1, 16, 16, 16)
    torch.testing.assert_close(torch.jit.script(net)(x), net(x))


def test_onnx_export_with_dynamic_spatial_axes(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    net = UNet3D(features=(4, 8, 16)).eval()
    path = tmp_path / "unet3d.onnx"
    axes = {0: "batch", 2: "x", 3: "y", 4: "z"}
    torch.onnx.export(
        net, (torch.rand(1, 1, 16, 16, 16),), str(path), dynamo=False, opset_version=17,
        input_names=["image"], output_names=["pred"], dynamic_axes={"image": axes, "pred": axes},
    )
    x = torch.rand(1, 1, 24, 16, 32)
    out = ort.InferenceSession(str(path)).run(None, {"image": x.numpy()})[0]
    np.testing.assert_allclose(out, net(x).detach().numpy(), atol=1e-5)
