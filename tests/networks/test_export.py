"""Every bundle's network exports through MONAI's bundle commands, TorchScript and ONNX, and matches eager.

``ckpt_export`` scripts the network (``torch.jit.script``, no tracing), so the file takes any input size the network
takes. ``onnx_export`` is checked both ways MONAI offers on torch >= 2.9: its default (the dynamo exporter, which
needs onnxscript from the ``[onnx]`` extra) at a fixed shape, and ``--use_trace True`` with ``dynamo: False``
(PyTorch's TorchScript-based exporter) with dynamic batch and spatial axes.
"""

from __future__ import annotations

import json

import pytest
import torch
from monai.bundle.scripts import ckpt_export, onnx_export

from monai_pipelines.networks import GlacierUNet, MMGANGenerator, Pix2PixUnetGenerator, UNet3D, resnet50_3d

ATOL = 1e-4

# bundle -> (tiny network_def as a bundle config writes it, input shape). Tiny but the same topology and code paths:
# pix2pix residual output, ResNet50-3D with MedicalNet dilations and the cosine (LDAM) head, and a glacier tile that
# is no multiple of 32 (replicate pad and crop) on a shortcut-A ResNet encoder.
CASES = {
    "mri_to_ct_unet3d": ({"_target_": "monai_pipelines.networks.UNet3D", "features": [4, 8, 16]}, (1, 1, 16, 16, 16)),
    "ct_phase_pix2pix": (
        {"_target_": "monai_pipelines.networks.Pix2PixUnetGenerator", "num_downs": 5, "ngf": 2, "residual": True},
        (1, 1, 32, 32),
    ),
    "mmgan_missing_modality": (
        {"_target_": "monai_pipelines.networks.MMGANGenerator", "features": 2, "num_downs": 3},
        (1, 3, 16, 16),
    ),
    "glioma_grade_resnet50_3d": (
        {"_target_": "monai_pipelines.networks.resnet50_3d", "widths": [2, 2, 2, 2], "head": "cosine"},
        (1, 1, 16, 16, 16),
    ),
    "glacier_segmentation": (
        {
            "_target_": "monai_pipelines.networks.GlacierUNet",
            "in_channels": 3,
            "backbone": "resnet18",
            "decoder_channels": [16, 8, 8, 4, 4],
        },
        (1, 3, 40, 50),
    ),
}
BUILDERS = {
    "monai_pipelines.networks.UNet3D": UNet3D,
    "monai_pipelines.networks.Pix2PixUnetGenerator": Pix2PixUnetGenerator,
    "monai_pipelines.networks.MMGANGenerator": MMGANGenerator,
    "monai_pipelines.networks.resnet50_3d": resnet50_3d,
    "monai_pipelines.networks.GlacierUNet": GlacierUNet,
}


@pytest.fixture(params=sorted(CASES))
def bundle(request, tmp_path):
    """A tiny bundle: config with ``network_def``, a training-style checkpoint ``{"network": ...}``, the eager net."""
    definition, shape = CASES[request.param]
    torch.manual_seed(0)
    kwargs = {k: v for k, v in definition.items() if k != "_target_"}
    net = BUILDERS[definition["_target_"]](**kwargs)
    for name, buffer in net.named_buffers():  # non-trivial batch-norm statistics, so eval mode is really tested
        if name.endswith("running_var"):
            buffer.uniform_(0.5, 2.0)
        elif name.endswith("running_mean"):
            buffer.uniform_(-0.5, 0.5)
    net.eval()
    config = tmp_path / "inference.json"
    config.write_text(json.dumps({"network_def": definition}))
    ckpt = tmp_path / "checkpoint_best.pt"
    torch.save({"network": net.state_dict(), "history": {"val_loss": [1.0]}}, ckpt)
    return {"net": net, "shape": shape, "config": str(config), "ckpt": str(ckpt), "dir": tmp_path}


def _eager(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net(x)


def test_ckpt_export_torchscript_matches_eager(bundle):
    path = bundle["dir"] / "model.ts"
    ckpt_export(
        "network_def", filepath=str(path), ckpt_file=bundle["ckpt"], config_file=bundle["config"], key_in_ckpt="network"
    )
    scripted = torch.jit.load(str(path))
    assert isinstance(scripted, torch.jit.RecursiveScriptModule)  # scripted, not traced: any input size works
    x = torch.rand(bundle["shape"])
    assert (scripted(x) - _eager(bundle["net"], x)).abs().max().item() <= ATOL
    # a second size, which a trace could not have followed (glacier: a different pad; the others: twice the size)
    shape = list(bundle["shape"])
    shape[2:] = [2 * s for s in shape[2:]]
    shape[-1] += 32 if isinstance(bundle["net"], GlacierUNet) else 0
    x = torch.rand(shape)
    assert (scripted(x) - _eager(bundle["net"], x)).abs().max().item() <= ATOL


def _onnx_matches_eager(path, net: torch.nn.Module, shape) -> float:
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.rand(shape)
    out = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    return float(abs(out - _eager(net, x).numpy()).max())


def test_onnx_export_dynamo_matches_eager(bundle):
    """MONAI's default onnx_export route, fixed input shape (the glacier tile exercises pad and crop)."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript", reason="the dynamo ONNX exporter needs onnxscript: pip install -e '.[onnx]'")
    path = bundle["dir"] / "model.onnx"
    onnx_export(
        "network_def",
        filepath=str(path),
        ckpt_file=bundle["ckpt"],
        config_file=bundle["config"],
        key_in_ckpt="network",
        input_shape=list(bundle["shape"]),
    )
    assert _onnx_matches_eager(path, bundle["net"], bundle["shape"]) <= ATOL


def test_onnx_export_torchscript_exporter_dynamic_axes(bundle):
    """``--use_trace True`` with ``dynamo: False`` and dynamic batch and spatial axes: other sizes run too.

    GlacierUNet pads to a multiple of 32 inside forward, and a trace keeps the sample's padding: its ONNX model is
    exported from a multiple-of-32 sample and then takes any multiple of 32.
    """
    pytest.importorskip("onnx")
    net, shape = bundle["net"], list(bundle["shape"])
    if isinstance(net, GlacierUNet):
        shape[2:] = [64, 64]
    spatial = range(2, len(shape))
    axes = {0: "batch", **{d: f"dim{d}" for d in spatial}}
    out_axes = {0: "batch"} if net(torch.rand(shape)).dim() == 2 else axes  # classifier: (batch, classes)
    path = bundle["dir"] / "model.onnx"
    converter_kwargs = {
        "dynamo": False,
        "input_names": ["image"],
        "output_names": ["pred"],
        "dynamic_axes": {"image": axes, "pred": out_axes},
    }
    onnx_export(
        "network_def",
        filepath=str(path),
        ckpt_file=bundle["ckpt"],
        config_file=bundle["config"],
        key_in_ckpt="network",
        input_shape=shape,
        use_trace=True,
        converter_kwargs=converter_kwargs,
    )
    assert _onnx_matches_eager(path, net, shape) <= ATOL
    other = [2, shape[1]] + [s * (i + 1) for i, s in enumerate(shape[2:])]  # batch 2, sizes x1, x2, x3
    assert _onnx_matches_eager(path, net, other) <= ATOL
