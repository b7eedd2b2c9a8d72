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
