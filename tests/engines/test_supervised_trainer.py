"""Our SupervisedTrainer/Evaluator: amp really autocasts on CPU (MONAI's does not), same math, events and keys."""

from __future__ import annotations

import warnings

import monai.engines
import pytest
import torch
from monai.engines.utils import IterationEvents
from monai.utils.enums import CommonKeys

from monai_pipelines.engines import SupervisedEvaluator, SupervisedTrainer

pytestmark = pytest.mark.usefixtures("native_bf16")

CPU = torch.device("cpu")


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 1, 1))


def _data(n: int = 3):
    g = torch.Generator().manual_seed(1)
    return [
        {"image": torch.randn(2, 1, 8, 8, generator=g), "label": torch.randn(2, 1, 8, 8, generator=g)} for _ in range(n)
    ]


def _trainer(cls, net, lr=0.05, **kwargs):
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    return cls(device=CPU, max_epochs=1, train_data_loader=_data(), network=net, optimizer=opt,
               loss_function=torch.nn.MSELoss(), **kwargs)


def _record_forward_dtype(net: torch.nn.Module) -> list[torch.dtype]:
    dtypes: list[torch.dtype] = []
    net[0].register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    return dtypes


def test_amp_autocasts_on_cpu_where_monai_stays_fp32():
    ours, theirs = _net(), _net()
    ours_dtypes, theirs_dtypes = _record_forward_dtype(ours), _record_forward_dtype(theirs)
    outputs = []
    trainer = _trainer(SupervisedTrainer, ours, amp=True)
    trainer.add_event_handler(IterationEvents.MODEL_COMPLETED, lambda e: outputs.append(e.state.output))
    trainer.run()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MONAI warns that CUDA is unavailable, then silently runs fp32
        _trainer(monai.engines.SupervisedTrainer, theirs, amp=True).run()
    assert ours_dtypes == [torch.bfloat16] * 3
    assert theirs_dtypes == [torch.float32] * 3
    assert not trainer.scaler.is_enabled()  # bf16 needs no loss scaling
    assert all(o[CommonKeys.PRED].dtype == torch.float32 for o in outputs)  # handed on in full precision
    assert all(torch.isfinite(p).all() for p in ours.parameters())


@pytest.mark.parametrize("accumulation_steps", [1, 2])
def test_fp32_training_identical_to_monai(accumulation_steps):
    ours, theirs = _net(), _net()
    outs: dict[str, list] = {"ours": [], "theirs": []}
    events: list = []
    t1 = _trainer(SupervisedTrainer, ours, accumulation_steps=accumulation_steps, decollate=True)  # as MONAI's
    t2 = _trainer(monai.engines.SupervisedTrainer, theirs, accumulation_steps=accumulation_steps)
    for name, t in (("ours", t1), ("theirs", t2)):
        t.add_event_handler(IterationEvents.MODEL_COMPLETED, lambda e, n=name: outs[n].append(e.state.output))
    for ev in (IterationEvents.FORWARD_COMPLETED, IterationEvents.LOSS_COMPLETED,
               IterationEvents.BACKWARD_COMPLETED, IterationEvents.MODEL_COMPLETED):
        t1.add_event_handler(ev, lambda e, ev=ev: events.append(ev))
    t1.run()
    t2.run()
    for a, b in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert events == [IterationEvents.FORWARD_COMPLETED, IterationEvents.LOSS_COMPLETED,
                      IterationEvents.BACKWARD_COMPLETED, IterationEvents.MODEL_COMPLETED] * 3
    # decollated outputs: same keys and values as MONAI's
    assert [sorted(o[0]) for o in outs["ours"]] == [sorted(o[0]) for o in outs["theirs"]]
    assert sorted(outs["ours"][0][0]) == sorted([CommonKeys.IMAGE, CommonKeys.LABEL, CommonKeys.PRED, CommonKeys.LOSS])
    assert [o[0][CommonKeys.LOSS] for o in outs["ours"]] == [o[0][CommonKeys.LOSS] for o in outs["theirs"]]


def test_gradient_clipping_bounds_the_norm():
    norms = {}
    for clip in (None, 0.05):
        net = _net()
        trainer = _trainer(SupervisedTrainer, net, grad_clip_norm=clip)
        seen: list[float] = []
        trainer.add_event_handler(
            IterationEvents.MODEL_COMPLETED,
            lambda e, net=net, seen=seen: seen.append(
                float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in net.parameters()])))
            ),
        )
        trainer.run()
        norms[clip] = (seen, trainer.state.grad_norm)
    unclipped, _ = norms[None]
    clipped, pre_clip = norms[0.05]
    assert min(unclipped) > 0.1
    assert max(clipped) <= 0.05 * 1.0001
    assert pre_clip is not None and pre_clip > 0.05  # the norm before clipping is reported


def test_channels_last_inputs_and_network():
    net = _net()
    layouts: list[bool] = []
    net[0].register_forward_pre_hook(
        lambda m, args: layouts.append(args[0].is_contiguous(memory_format=torch.channels_last))
    )
    _trainer(SupervisedTrainer, net, channels_last=True).run()
    assert layouts == [True] * 3
    assert net[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_fp16_uses_an_active_grad_scaler():
    net = _net()
    dtypes = _record_forward_dtype(net)
    trainer = _trainer(SupervisedTrainer, net, amp=True, amp_dtype="fp16")
    trainer.run()
    assert dtypes == [torch.float16] * 3 and trainer.scaler.is_enabled()
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_evaluator_amp_on_cpu_and_keys():
    results = {}
    for cls in (SupervisedEvaluator, monai.engines.SupervisedEvaluator):
        net = _net()
        dtypes = _record_forward_dtype(net)
        evaluator = cls(device=CPU, val_data_loader=_data(2), network=net, amp=True)
        outputs = []
        evaluator.add_event_handler(IterationEvents.MODEL_COMPLETED, lambda e, o=outputs: o.append(e.state.output))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            evaluator.run()
        results[cls] = (dtypes, outputs)
    ours_dtypes, ours_out = results[SupervisedEvaluator]
    theirs_dtypes, theirs_out = results[monai.engines.SupervisedEvaluator]
    assert ours_dtypes == [torch.bfloat16] * 2 and theirs_dtypes == [torch.float32] * 2
    assert sorted(ours_out[0][0]) == sorted(theirs_out[0][0]) == sorted(["image", "label", "pred"])
    assert ours_out[0][0][CommonKeys.PRED].dtype == torch.float32
    torch.testing.assert_close(ours_out[0][0]["pred"], theirs_out[0][0]["pred"], atol=0.05, rtol=0.05)


def test_training_step_feeds_plain_tensors_and_keeps_the_batch_output():
    """The network and loss see torch.Tensors, not MetaTensors (each op on a MetaTensor costs Python time: ~6 ms per
    U-Net step), and the output stays one batched dict (MONAI's decollation cost 8 ms per iteration)."""
    from monai.data import MetaTensor

    seen = []

    class Recorder(torch.nn.Conv3d):
        def forward(self, x):
            seen.append(type(x))
            return super().forward(x)

    torch.manual_seed(0)
    net = Recorder(1, 1, 1)
    batch = {"image": MetaTensor(torch.rand(2, 1, 4, 4, 4)), "label": MetaTensor(torch.rand(2, 1, 4, 4, 4))}
    trainer = SupervisedTrainer(device=torch.device("cpu"), max_epochs=1, train_data_loader=[batch], network=net,
                                optimizer=torch.optim.SGD(net.parameters(), lr=0.1), loss_function=torch.nn.MSELoss())
    trainer.run()
    assert seen == [torch.Tensor]
    output = trainer.state.output
    assert isinstance(output, dict) and output["pred"].shape == (2, 1, 4, 4, 4) and float(output["loss"]) > 0


def test_gradients_are_freed_not_zeroed_before_each_step():
    """PyTorch's default (MONAI's trainer zeroes them, and backward then adds to them: a pass more over each)."""
    net = _net()
    trainer = _trainer(SupervisedTrainer, net)
    freed: list[bool] = []
    trainer.add_event_handler(IterationEvents.FORWARD_COMPLETED,
                              lambda e: freed.append(all(p.grad is None for p in net.parameters())))
    trainer.run()
    assert freed == [True, True, True]
    assert all(p.grad is not None for p in net.parameters())  # and the last step's gradients are there after it


def test_loss_kwargs_hand_batch_entries_to_the_loss():
    """``loss_kwargs`` {loss argument: batch key}: e.g. distance maps the data pipeline computed for a boundary loss."""
    seen = []

    def weighted_mse(pred, target, weight=None):
        seen.append(weight)
        return ((pred - target) ** 2 * (1.0 if weight is None else weight)).mean()

    data = [{**item, "w": torch.full((2, 1, 8, 8), 2.0)} for item in _data()]
    net = _net()
    trainer = SupervisedTrainer(device=CPU, max_epochs=1, train_data_loader=data, network=net,
                                optimizer=torch.optim.SGD(net.parameters(), lr=0.05), loss_function=weighted_mse,
                                loss_kwargs={"weight": "w"})
    trainer.run()
    assert len(seen) == 3 and all(isinstance(w, torch.Tensor) and float(w.mean()) == 2.0 for w in seen)
    net = _net()
    without = SupervisedTrainer(device=CPU, max_epochs=1, train_data_loader=_data(), network=net,
                                optimizer=torch.optim.SGD(net.parameters(), lr=0.05), loss_function=weighted_mse,
                                loss_kwargs={"weight": "w"})
    without.run()  # a batch without the key: the loss gets no such argument
    assert seen[3:] == [None, None, None]
