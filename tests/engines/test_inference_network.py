"""Inference on a frozen copy of the network: same predictions, the network untouched, eager when not scriptable."""

from __future__ import annotations

import logging

import torch
from monai.data import MetaTensor
from monai.inferers import SlidingWindowInferer

from monai_pipelines.engines import SupervisedEvaluator
from monai_pipelines.engines.inference_network import frozen_for_inference
from monai_pipelines.networks import UNet3D


def _evaluate(network: torch.nn.Module, freeze: bool, image: torch.Tensor, amp: bool = False) -> SupervisedEvaluator:
    evaluator = SupervisedEvaluator(
        device=torch.device("cpu"), val_data_loader=[{"image": image}], network=network, freeze=freeze, amp=amp,
        inferer=SlidingWindowInferer(roi_size=(16, 16, 16), sw_batch_size=2, overlap=0.25, mode="gaussian"),
    )
    evaluator.run()
    return evaluator


def test_frozen_predictions_equal_eager_ones_and_keep_meta():
    torch.manual_seed(0)
    network = UNet3D(features=(2, 4, 8, 16))
    image = MetaTensor(torch.rand(1, 1, 20, 18, 24), affine=torch.diag(torch.tensor([2.0, 2.0, 2.0, 1.0])))
    eager = _evaluate(network, False, image)
    frozen = _evaluate(network, True, image)
    assert frozen._frozen is not None and frozen._frozen is not network and eager._frozen is None
    pred = frozen.state.output[0]["pred"]  # decollated: one dict per batch item
    torch.testing.assert_close(pred, eager.state.output[0]["pred"], atol=1e-5, rtol=1e-4)
    assert isinstance(pred, MetaTensor) and pred.shape == (1, 20, 18, 24)
    torch.testing.assert_close(pred.affine, eager.state.output[0]["pred"].affine)  # meta as the eager path has it
    assert network.training  # the evaluated network itself is not frozen or left in eval mode


class _Unscriptable(torch.nn.Module):
    def forward(self, x, *rest):  # varargs: TorchScript refuses
        return x * 2


def test_unscriptable_network_runs_eagerly(caplog):
    network = _Unscriptable()
    with caplog.at_level(logging.INFO, logger="monai_pipelines"):
        assert frozen_for_inference(network) is network
    assert "cannot be frozen" in caplog.text


def test_autocast_reaches_the_frozen_network(native_bf16):
    """The evaluator freezes the network inside its autocast context, so the frozen graph computes as eager autocast
    does (a graph frozen outside autocast ignores it: fp32 under ``--amp true``)."""
    torch.manual_seed(0)
    network = UNet3D(features=(2, 4, 8, 16)).eval()
    image = torch.rand(1, 1, 16, 16, 16)
    frozen_bf16 = _evaluate(network, True, image, amp=True).state.output[0]["pred"]
    eager_bf16 = _evaluate(network, False, image, amp=True).state.output[0]["pred"]
    fp32 = _evaluate(network, False, image).state.output[0]["pred"]
    assert float((eager_bf16 - fp32).abs().max()) > 1e-4  # bf16 shows
    torch.testing.assert_close(frozen_bf16, eager_bf16, atol=0, rtol=0)
