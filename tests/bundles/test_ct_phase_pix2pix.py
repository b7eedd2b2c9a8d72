"""ct_phase_pix2pix bundle in-process at tiny size: train 1 epoch, resume to 2, evaluate, infer on a real CT."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from ignite.engine import Events
from monai.bundle import ConfigWorkflow

from monai_pipelines.data.synthetic.thorax_phantom import generate_thorax_phases
from tests.bundles.runner import tensorboard_steps

CONFIGS = Path(__file__).resolve().parents[2] / "bundles" / "ct_phase_pix2pix" / "configs"
TINY = {"spatial_size": 32, "num_downs": 5, "ngf": 4, "ndf": 4, "n_layers_d": 2, "num_workers": 0, "batch_size": 8}


def tiny_dataset(root: Path) -> Path:
    """5 breathing-thorax subjects at 32 x 32 x 8 (1 test), 2 folds (also the multi-GPU test's data)."""
    generate_thorax_phases(root, n_subjects=5, n_test=1, shape=(32, 32, 8), folds=2)
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("ct_phase")
    data = tiny_dataset(root / "data")
    out = root / "run"
    common = {**TINY, "dataset_dir": str(data), "output_dir": str(out), "save_interval": 1, "residual": True}
    runs = []
    for epochs in (1, 2):
        wf = ConfigWorkflow(config_file=str(CONFIGS / "train.json"), workflow_type="train", epochs=epochs, **common)
        wf.initialize()
        trainer = wf.parser.get_parsed_content("train#trainer")
        started: list[int] = []
        trainer.add_event_handler(Events.EPOCH_STARTED, lambda e, seen=started: seen.append(e.state.epoch))
        wf.run()
        runs.append((trainer.state.epoch, started))
        wf.finalize()
    return data, out, common, runs


@pytest.mark.slow
def test_train_resume_evaluate_and_infer_real_ct(trained, real_data, tmp_path):
    data, out, common, epochs = trained
    assert epochs == [(1, [1]), (2, [2])]  # the second run resumed after epoch 1 instead of restarting
    ckpts = out / "checkpoints"
    assert (ckpts / "checkpoint_epoch1.pt").is_file() and (ckpts / "checkpoint_epoch2.pt").is_file()
    history = json.loads((out / "metrics" / "history.json").read_text())
    assert len(history["epochs"] if isinstance(history, dict) and "epochs" in history else history) >= 2
    tensorboard = tensorboard_steps(out / "logs")  # G and D loss terms, both learning rates, metric, image panel
    for tag in ("g_loss", "g_adv", "g_rec", "d_loss", "d_real", "d_fake"):
        assert tensorboard[tag] == list(range(1, len(tensorboard[tag]) + 1)) and tensorboard[tag], tag
    for tag in ("g_lr", "d_lr", "val_mae", "validation/panel"):
        assert tensorboard[tag] == [1, 2], tag
    config = json.loads((out / "config" / "config.json").read_text())["settings"]
    assert config["n_epochs"] == 100 and config["norm"] == "instance" and config["lambda_l1"] == 50.0

    wf = ConfigWorkflow(
        config_file=[str(CONFIGS / "train.json"), str(CONFIGS / "evaluate.json")],
        workflow_type="eval", run_id="evaluating", **common,
    )
    wf.initialize()
    wf.run()
    summary = json.loads((out / "metrics" / "test_summary.json").read_text())
    assert summary["subjects"] == 1 and {"mae", "psnr", "ssim"} <= set(summary["model"]) and "baseline" in summary
    # inside the body mask (target > -500 HU, holes filled per slice) as well as over the whole volume
    assert {"mae_mask", "ssim_mask"} <= set(summary["model"]) and "mae_mask" in summary["baseline"]
    slice_rows = (out / "metrics" / "test_slice_metrics.csv").read_text().strip().splitlines()
    assert len(slice_rows) == 1 + 8 and slice_rows[0].startswith("volume,slice,mae")
    pred = nib.load(str(out / "predictions" / "test" / "thorax_004_phase0.nii.gz"))
    source = nib.load(str(data / "testA" / "thorax_004.nii.gz"))
    assert pred.shape == source.shape and np.allclose(pred.affine, source.affine)

    ct = real_data / "ct" / "totalseg_example_ct.nii.gz"
    wf = ConfigWorkflow(
        config_file=str(CONFIGS / "inference.json"), workflow_type="infer", input_path=str(ct),
        output_dir=str(tmp_path / "inf"), ckpt_path=str(ckpts / "checkpoint_best.pt"),
        spatial_size=32, num_downs=5, ngf=4,
    )
    wf.initialize()
    wf.run()
    written = nib.load(str(tmp_path / "inf" / "totalseg_example_ct_phase0.nii.gz"))
    original = nib.load(str(ct))
    assert written.shape == original.shape and np.allclose(written.affine, original.affine)
    hu = written.get_fdata()
    assert hu.min() >= -1024 and hu.max() <= 3071 and hu.std() > 0  # HU scale, not [-1, 1]
    assert (tmp_path / "inf" / "index.html").is_file() and (tmp_path / "inf" / "images").is_dir()


def test_demo_config_selects_the_residual_generator_and_seed_config_the_plain_one():
    import torch
    from monai.bundle import ConfigParser

    seed = ConfigParser()
    seed.read_config(str(CONFIGS / "train.json"))
    assert seed["residual"] is False and seed["lambda_l1"] == 50.0  # the seed's plain pix2pix stays the default
    demo = ConfigParser()
    demo.read_config([str(CONFIGS / "train.json"), str(CONFIGS / "demo.json")])
    assert demo["residual"] is True and demo["spatial_size"] == 64 and demo["epochs"] == "$@n_epochs + @n_epochs_decay"
    net = demo.get_parsed_content("network_def")
    x = torch.rand(1, 1, 64, 64) * 2 - 1
    assert torch.equal(net(x), x)  # residual generator starts as the identity (input-as-output)
    infer = ConfigParser()
    infer.read_config(str(CONFIGS / "inference.json"))
    assert "residual" not in infer.config and infer["network_def"] == "$@trained.network()"  # from the trained run


def _capture_preds(engine) -> dict[str, np.ndarray]:
    """Post-processed ``pred`` of every item an evaluator runs on, by input file name."""
    preds: dict[str, np.ndarray] = {}

    def keep(e):
        for item in e.state.output:
            name = Path(item["image"].meta["filename_or_obj"]).name
            preds[name] = np.asarray(item["pred"].detach().cpu(), dtype=np.float64)[0]

    engine.add_event_handler(Events.ITERATION_COMPLETED, keep)
    return preds


@pytest.mark.slow
def test_inference_equals_evaluation_and_feeds_the_training_slices(trained, tmp_path):
    """inference.json, given only the checkpoint (and architecture ids a user restates correctly, not the residual
    flag), writes the prediction evaluate.json computes for the held-out subject, and feeds the generator the slices
    training fed it for a training subject (same subject and index)."""
    import torch

    data, out, common, _ = trained
    hu_range = 3071.0 + 1024.0
    wf = ConfigWorkflow(config_file=[str(CONFIGS / "train.json"), str(CONFIGS / "evaluate.json")],
                        workflow_type="eval", run_id="evaluating", **common)
    wf.initialize()
    evaluated = _capture_preds(wf.parser.get_parsed_content("evaluate#evaluator"))
    wf.run()
    wf.finalize()
    assert list(evaluated) == ["thorax_004.nii.gz"]

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for source in (data / "testA" / "thorax_004.nii.gz", data / "trainA" / "thorax_000.nii.gz"):
        (inputs / source.name).symlink_to(source)
    wf = ConfigWorkflow(config_file=str(CONFIGS / "inference.json"), workflow_type="infer", input_path=str(inputs),
                        output_dir=str(tmp_path / "inf"), ckpt_path=str(out / "checkpoints" / "checkpoint_best.pt"),
                        report=False, spatial_size=TINY["spatial_size"], num_downs=TINY["num_downs"], ngf=TINY["ngf"])
    wf.initialize()
    fed: list[torch.Tensor] = []
    wf.parser.get_parsed_content("network").register_forward_pre_hook(lambda m, a: fed.append(a[0].detach().clone()))
    inferred = _capture_preds(wf.parser.get_parsed_content("evaluator"))
    wf.run()
    wf.finalize()
    diff = np.abs(inferred["thorax_004.nii.gz"] - evaluated["thorax_004.nii.gz"]).max() * 2 / hu_range
    assert diff <= 1e-4, f"inference differs from evaluation by {diff:.4g} (network units, max abs)"
    written = nib.load(str(tmp_path / "inf" / "thorax_004_phase0.nii.gz")).get_fdata()
    wrong = ConfigWorkflow(config_file=str(CONFIGS / "inference.json"), workflow_type="infer", input_path=str(inputs),
                           output_dir=str(tmp_path / "wrong"), ckpt_path=str(out / "checkpoints" / "checkpoint_best.pt"),
                           spatial_size=64)
    with pytest.raises(Exception) as refused:  # a setting that contradicts the trained model is refused
        wrong.initialize()
    chain = [refused.value]
    while chain[-1].__cause__ is not None:
        chain.append(chain[-1].__cause__)
    assert any("--spatial_size 64 contradicts the trained model" in str(e) for e in chain), chain
    assert np.abs(written - np.round(evaluated["thorax_004.nii.gz"])).max() <= 1  # int16 HU on disk

    # slices fed at inference (sorted inputs: thorax_000 first, 8 slices each) vs the training dataset's
    slices = torch.cat(fed)[:8, 0]
    wf = ConfigWorkflow(config_file=str(CONFIGS / "train.json"), workflow_type="train", **common)
    wf.initialize()
    dataset = wf.parser.get_parsed_content("train#dataset")
    training = {item["slice"]: item["condition"][0] for item in (dataset[i] for i in range(len(dataset)))
                if item["subject"] == "thorax_000"}
    assert training
    for k, expected in training.items():
        gap = (slices[k] - expected).abs().max().item()
        assert gap <= 1e-5, f"slice {k} fed at inference differs from training's by {gap:.4g}"


def test_document_layout_runs_as_is_with_images_loss_log_and_slice_pngs(tmp_path, caplog):
    """trainA/trainB/testA/testB without a manifest: the first run builds and saves one with seeded folds and says
    so; training shows images every display_freq images (TensorBoard + web/index.html) and writes loss_log.txt;
    inference writes every slice as PNG when asked (off by default)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    data = tmp_path / "ct_phases_dataset"
    generate_thorax_phases(data, n_subjects=6, n_test=1, shape=(32, 32, 4), folds=2)
    (data / "manifest.json").unlink()  # the document's layout: image folders only
    out = tmp_path / "run"
    caplog.set_level("INFO")
    wf = ConfigWorkflow(config_file=str(CONFIGS / "train.json"), workflow_type="train", epochs=1, logging_file=False,
                        dataset_dir=str(data), output_dir=str(out), display_freq=8, print_freq=4,
                        **{**TINY, "batch_size": 4})
    wf.initialize()
    wf.run()
    wf.finalize()
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["folds"] == 5 and manifest["seed"] == 0 and len(manifest["test"]) == 1
    assert "had no manifest.json: built one from its paired layout with seeded folds" in caplog.text

    history = json.loads((out / "metrics" / "history.json").read_text())
    assert history[0]["lr"] == pytest.approx(1e-4)  # the generator's rate (the GAN trainer sets it after attach)
    # 4 training subjects x 4 slices = 16 images: 4 iterations of 4; loss lines at 4, 8, 12, 16; images at 8, 16
    lines = (out / "loss_log.txt").read_text().splitlines()
    assert lines[0].startswith("================ Training Loss") and len(lines) == 5
    assert lines[1].startswith("(epoch: 1, iters: 4, time: ") and " G_GAN: " in lines[1]
    assert all(f" {k}: " in lines[-1] for k in ("G_GAN", "G_L1", "D_real", "D_fake"))
    page = (out / "web" / "index.html").read_text()
    assert "16 images seen" in page and "8 images seen" in page
    assert len(list((out / "web" / "images").glob("*.png"))) == 2 * 3  # real_A, fake_B, real_B per display
    events = EventAccumulator(str(out / "logs"), size_guidance={"images": 0})
    events.Reload()
    assert {"train/real_A", "train/fake_B", "train/real_B"} <= set(events.Tags()["images"])

    test_input = data / "testA" / manifest["test"][0]["condition"].split("/")[-1]
    common = dict(config_file=str(CONFIGS / "inference.json"), workflow_type="infer", input_path=str(test_input),
                  ckpt_path=str(out / "checkpoints" / "checkpoint_best.pt"), report=False)
    for save_slices, folder in ((False, tmp_path / "plain"), (True, tmp_path / "slices")):
        wf = ConfigWorkflow(output_dir=str(folder), save_slices=save_slices, **common)
        wf.initialize()
        wf.run()
        wf.finalize()
    name = test_input.name.removesuffix(".nii.gz")
    assert not list((tmp_path / "plain").glob("*_slices"))
    pngs = sorted((tmp_path / "slices" / f"{name}_slices").glob("*.png"))
    assert [p.name for p in pngs] == [f"{name}_{k:04d}.png" for k in range(4)]
