"""Glacier fold ensembles and pretrained starts read their run contracts: fold order, agreement, weights, logging."""

from __future__ import annotations

import logging

import pytest
import torch

from monai_pipelines.inferers.glacier_predictor import (
    ensemble_contract,
    fold_checkpoints,
    load_fold_members,
    load_pretrained_network,
)
from monai_pipelines.networks import GlacierUNet
from monai_pipelines.utils.errors import InputError

BANDS = ["B2", "ndsi"]


def _contract(bands=BANDS, mean=(0.0, 1.0), std=(1.0, 2.0)) -> dict:
    network = {"_target_": "monai_pipelines.networks.GlacierUNet", "in_channels": len(bands), "out_channels": 4,
               "backbone": "resnet10", "_ids_": {"out_channels": "num_classes"}}
    return {"network_def": network, "bands": list(bands), "band_stats": {"mean": list(mean), "std": list(std)},
            "num_classes": 4, "class_names": ["background", "clean_ice", "debris", "lake"]}


def _checkpoint(path, contract=None, seed=0):
    torch.manual_seed(seed)
    network = GlacierUNet(in_channels=2, out_channels=4, backbone="resnet10")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"network": network.state_dict(), **({"contract": contract} if contract else {})}, path)
    return network


def test_fold_checkpoints_in_fold_order(tmp_path):
    for k in (10, 2, 0):
        _checkpoint(tmp_path / f"fold_{k}" / "checkpoints" / "final_model.pt", _contract())
    assert [p.parent.parent.name for p in fold_checkpoints(tmp_path)] == ["fold_0", "fold_2", "fold_10"]
    with pytest.raises(FileNotFoundError, match="no fold_<k>/checkpoints/best.pt"):
        fold_checkpoints(tmp_path, "best.pt")


def test_members_use_their_own_weights_and_band_statistics(tmp_path):
    nets = [_checkpoint(tmp_path / f"{k}.pt", _contract(mean=(k, 0.0)), seed=k) for k in (0, 1)]
    members = load_fold_members([tmp_path / "0.pt", tmp_path / "1.pt"])
    x = torch.rand(1, 2, 32, 32)
    for k, (net, member) in enumerate(zip(nets, members)):
        assert member.mean.flatten().tolist() == [k, 0.0] and member.std.flatten().tolist() == [1.0, 2.0]
        net.eval()
        torch.testing.assert_close(member(x), net((x - torch.tensor([k, 0.0]).view(1, 2, 1, 1))
                                                  / torch.tensor([1.0, 2.0]).view(1, 2, 1, 1)))


def test_members_that_disagree_are_refused_in_one_line(tmp_path):
    _checkpoint(tmp_path / "a.pt", _contract())
    _checkpoint(tmp_path / "b.pt", _contract(bands=["B2", "B5"]))
    with pytest.raises(InputError, match=r"disagree on bands: .*a.pt has \["):
        ensemble_contract([tmp_path / "a.pt", tmp_path / "b.pt"])
    _checkpoint(tmp_path / "c.pt")  # no contract: not a checkpoint of this bundle's training
    with pytest.raises(InputError, match="carries no run contract"):
        load_fold_members([tmp_path / "a.pt", tmp_path / "c.pt"])


def test_pretrained_network_loaded_logged_and_checked(tmp_path, caplog):
    source = _checkpoint(tmp_path / "pre.pt", _contract(), seed=3)
    network = GlacierUNet(in_channels=2, out_channels=4, backbone="resnet10")
    caplog.set_level(logging.INFO)
    load_pretrained_network(network, tmp_path / "pre.pt", _contract(mean=(5.0, 5.0)))  # statistics may differ
    assert f"pretrained weights loaded from {tmp_path / 'pre.pt'}" in caplog.text
    for key, value in source.state_dict().items():
        torch.testing.assert_close(network.state_dict()[key], value)
    with pytest.raises(InputError, match="was trained with bands"):
        load_pretrained_network(network, tmp_path / "pre.pt", _contract(bands=["B2", "B5"]))


def test_pretrained_load_names_what_it_did_not_load(tmp_path, caplog):
    """A checkpoint of another head/version: the fitting tensors load, the others are named in the log."""
    source = GlacierUNet(in_channels=2, out_channels=4, backbone="resnet10").state_dict()
    keys = list(source)
    dropped, reshaped = keys[0], keys[-1]
    state = {k: v for k, v in source.items() if k != dropped}
    state[reshaped] = torch.zeros(3, *source[reshaped].shape[1:]) if source[reshaped].ndim else torch.zeros(3)
    state["old_head.weight"] = torch.zeros(2)
    torch.save({"network": state}, tmp_path / "other.pt")
    network = GlacierUNet(in_channels=2, out_channels=4, backbone="resnet10")
    caplog.set_level(logging.INFO)
    report = load_pretrained_network(network, tmp_path / "other.pt")
    assert report.missing == sorted([dropped, reshaped]) and report.mismatched == [reshaped]
    assert report.unexpected == ["old_head.weight"] and len(report.loaded) == len(keys) - 2
    line = next(r for r in caplog.records if "pretrained weights loaded from" in r.getMessage())
    assert line.levelname == "WARNING" and str(tmp_path / "other.pt") in line.getMessage()
    for text in (f"loaded {len(keys) - 2}", f"missing 2 {sorted([dropped, reshaped])}", "unexpected 1 ['old_head.weight']",
                 f"shape-mismatched 1 ['{reshaped}']"):
        assert text in line.getMessage(), line.getMessage()
    torch.save({"network": {"x": torch.zeros(1)}}, tmp_path / "unrelated.pt")
    with pytest.raises(InputError, match="no tensor fits this network"):
        load_pretrained_network(network, tmp_path / "unrelated.pt")
