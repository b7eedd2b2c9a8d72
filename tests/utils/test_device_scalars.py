"""Loss scalars read from the device together: values, device, and no per-scalar float()."""

import torch

from monai_pipelines.utils.device_scalars import scalar_values, stack_scalars


def test_one_read_for_tensors_and_numbers(monkeypatch):
    values = [torch.tensor(0.5), torch.tensor([1.25], dtype=torch.bfloat16), 3, 2.0]
    reads = []
    real = torch.Tensor.__float__
    monkeypatch.setattr(torch.Tensor, "__float__", lambda t: reads.append(t) or real(t))
    assert scalar_values(values) == [0.5, 1.25, 3.0, 2.0]
    assert reads == []  # one tolist() of the stacked tensor, not a float() per scalar
    stacked = stack_scalars(values)
    assert stacked.dtype == torch.float32 and stacked.shape == (4,) and stacked.device.type == "cpu"
    assert scalar_values([]) == []


def test_iteration_scalars_read_once_per_iteration(monkeypatch):
    """Every handler of an iteration gets the same numbers from one read; the next iteration reads again."""
    from types import SimpleNamespace

    from monai_pipelines.utils import device_scalars
    from monai_pipelines.utils.device_scalars import IterationScalars

    reads = []
    real = device_scalars.scalar_values
    monkeypatch.setattr(device_scalars, "scalar_values", lambda values: reads.append(len(values)) or real(values))
    engine = SimpleNamespace(state=SimpleNamespace(iteration=1))
    terms = {"dice": torch.tensor(0.25)}
    scalars = IterationScalars(engine, ["g_loss", "d_loss", "absent"], extra=lambda: terms)
    output = {"g_loss": torch.tensor(1.5), "d_loss": torch.tensor(0.5), "pred": torch.zeros(2, 2)}
    assert scalars(output) == {"g_loss": 1.5, "d_loss": 0.5, "dice": 0.25}
    assert scalars.of("d_loss")(output) == 0.5 and scalars([output])["g_loss"] == 1.5  # a decollated output too
    assert reads == [3]
    engine.state.iteration = 2
    output = {"g_loss": torch.tensor(2.5), "d_loss": torch.tensor(0.75)}
    assert scalars.of("g_loss")(output) == 2.5 and scalars(output)["d_loss"] == 0.75
    assert reads == [3, 3]
