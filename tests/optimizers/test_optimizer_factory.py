"""--optimizer adam|adamw|sgd builds that optimizer with the run's settings and logs it; an unknown name is one line."""

from __future__ import annotations

import logging

import pytest
import torch

from monai_pipelines.optimizers import build_optimizer
from monai_pipelines.utils.errors import InputError


@pytest.mark.parametrize(("name", "cls"), [("adam", torch.optim.Adam), ("AdamW", torch.optim.AdamW),
                                           ("sgd", torch.optim.SGD)])
def test_each_choice_is_that_optimizer_and_logged(name, cls, caplog):
    params = [torch.nn.Parameter(torch.zeros(2))]
    with caplog.at_level(logging.INFO):
        optimizer = build_optimizer(name, params, lr=0.01, weight_decay=1e-4, momentum=0.8)
    assert type(optimizer) is cls
    group = optimizer.param_groups[0]
    assert group["lr"] == 0.01 and group["weight_decay"] == 1e-4
    assert group.get("momentum") == (0.8 if cls is torch.optim.SGD else None)
    assert f"optimizer {name.lower()}: {cls.__name__}(lr=0.01, weight_decay=0.0001" in caplog.text


def test_unknown_name_is_one_line():
    with pytest.raises(InputError, match=r"--optimizer 'rmsprop' is not one of \['adam', 'adamw', 'sgd'\]"):
        build_optimizer("rmsprop", [torch.nn.Parameter(torch.zeros(1))], lr=0.1)
