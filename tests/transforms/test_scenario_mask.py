"""Scenario codes, zero/mean imputation and implicit conditioning."""

from __future__ import annotations

import pytest
import torch

from monai_pipelines.transforms.scenario_mask import (
    ALL_SCENARIOS,
    Scenario,
    ScenarioMask,
    ScenarioMaskd,
    apply_scenario,
    implicit_conditioning,
    scenario_mask,
)


def test_six_scenarios_bit_order_t1_t2_pd():
    assert [str(s) for s in ALL_SCENARIOS] == ["011", "101", "110", "001", "010", "100"]
    assert Scenario.MISSING_T1 == "011" and Scenario.MISSING_T2_PD == "100"
    assert scenario_mask("011").tolist() == [0.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="no available"):
        scenario_mask("000")
    with pytest.raises(ValueError, match="0/1"):
        scenario_mask("0a1")


def test_apply_scenario_zeroes_only_missing_channels():
    x = torch.rand(2, 3, 4, 4) + 0.5
    y = apply_scenario(x, Scenario.MISSING_T1_PD)  # only T2 available
    assert torch.all(y[:, 0] == 0) and torch.all(y[:, 2] == 0)
    assert torch.equal(y[:, 1], x[:, 1])
    # per-sample masks
    mask = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    y = apply_scenario(x, mask)
    assert torch.equal(y[0, 0], x[0, 0]) and torch.all(y[0, 1] == 0)
    assert torch.all(y[1, :2] == 0) and torch.equal(y[1, 2], x[1, 2])
    with pytest.raises(ValueError, match="channels"):
        apply_scenario(torch.rand(1, 2, 4, 4), "011")


def test_mean_imputation():
    x = torch.stack([torch.full((4, 4), v) for v in (1.0, 2.0, 4.0)])[None]
    y = apply_scenario(x, "011", impute="mean")
    assert torch.allclose(y[0, 0], torch.full((4, 4), 3.0))
    with pytest.raises(ValueError, match="impute"):
        apply_scenario(x, "011", impute="noise")


def test_implicit_conditioning_copies_available_and_keeps_gradient_of_missing():
    real = torch.rand(2, 3, 4, 4)
    fake = torch.rand(2, 3, 4, 4, requires_grad=True)
    out = implicit_conditioning(fake, real, "101")
    assert torch.equal(out[:, 0], real[:, 0]) and torch.equal(out[:, 2], real[:, 2])
    assert torch.equal(out[:, 1], fake[:, 1])
    out.sum().backward()
    assert fake.grad[:, 1].eq(1).all() and fake.grad[:, [0, 2]].eq(0).all()


def test_array_and_dict_transforms():
    img = torch.rand(3, 5, 5) + 1
    assert torch.all(ScenarioMask("100")(img)[1:] == 0)
    d = ScenarioMaskd("image", "110", output_keys="condition")({"image": img})
    assert torch.equal(d["image"], img) and torch.all(d["condition"][2] == 0) and torch.equal(d["condition"][0], img[0])
