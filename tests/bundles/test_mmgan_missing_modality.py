"""Bundle mmgan_missing_modality at tiny size: train (curriculum, checkpoints, resume), evaluate six scenarios, compare."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigWorkflow

from monai_pipelines.data.ixi import normalise_percentile
from monai_pipelines.data.manifest import build_manifest, write_manifest
from monai_pipelines.data.synthetic.head_phantom import make_head_phantom
from monai_pipelines.metrics.compare_runs import compare_runs
from tests.bundles.runner import tensorboard_steps

CONFIGS = Path(__file__).resolve().parents[2] / "bundles" / "mmgan_missing_modality" / "configs"
SCENARIOS = ["011", "101", "110", "001", "010", "100"]


def _slices_dataset(root: Path, n_subjects: int = 4) -> Path:
    """3-channel 32x32 slices of head phantoms (training content only: Phase 1's slicing is `_phase1_dataset`'s)."""
    items = []
    for i in range(n_subjects):
        p = make_head_phantom(i, shape=(32, 32, 20), spacing=(6.0, 6.0, 6.0), noise=0.01)
        vol = np.stack([normalise_percentile(p.images[s], p.head_mask) for s in ("t1", "t2", "pd")])
        for z in range(4, 16, 2):
            rel = f"train/S{i}_{z:03d}.npy"
            (root / "train").mkdir(parents=True, exist_ok=True)
            np.save(root / rel, np.ascontiguousarray(vol[..., z]))
            items.append({"image": rel, "subject": f"S{i}", "slice": z})
    write_manifest(build_manifest("tiny", items, k=3, seed=0, test_subjects=["S3"], path_keys=["image"]),
                   root / "manifest.json")
    return root


def _overrides(data: Path, out: Path, **kw) -> dict:
    base = dict(dataset_dir=str(data), output_dir=str(out), epochs=2, features=8, batch_size=4, num_workers=0,
                run_name=out.name)
    return base | kw


def _train(**ov) -> None:
    wf = ConfigWorkflow(config_file=str(CONFIGS / "train.json"), workflow_type="train", **ov)
    wf.initialize()
    wf.run()
    wf.finalize()


def _evaluate(**ov) -> dict:
    wf = ConfigWorkflow(config_file=[str(CONFIGS / "train.json"), str(CONFIGS / "evaluate.json")],
                        workflow_type="eval", run_id="evaluating", **ov)
    wf.initialize()
    wf.run()
    wf.finalize()
    return json.loads((Path(ov["output_dir"]) / "metrics" / "metrics.json").read_text())


@pytest.mark.slow
def test_train_resume_evaluate_compare(tmp_path):
    data = _slices_dataset(tmp_path / "data")
    out = tmp_path / "baseline"
    _train(**_overrides(data, out))
    ckpts = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert {"mmgan_epoch1.pth", "mmgan_epoch2.pth", "mmgan_latest.pth", "mmgan_best.pth", "mmgan_best_ssim.pth",
            "mmgan_final.pth"} <= set(ckpts)
    state = torch.load(out / "checkpoints" / "mmgan_epoch2.pth", weights_only=True)
    for key in ("network", "discriminator", "optimizer", "d_optimizer", "lr_scheduler", "lr_scheduler1",
                "history", "curriculum_scenarios", "contract"):
        assert key in state, key
    assert state["contract"]["slicing"] == {"orientation": "RAS", "axis": 2, "rotation": 1, "size": 32,
                                            "percentile": 99.5, "n4": False}
    assert state["network"]["final.2.weight"].shape[0] == 3
    history = json.loads((out / "metrics" / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2] and "val_psnr_100" in history[-1]

    # resume: same command with more epochs continues at epoch 3 (curriculum state restored)
    _train(**_overrides(data, out, epochs=3))
    history = json.loads((out / "metrics" / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert (out / "checkpoints" / "mmgan_epoch3.pth").is_file()
    tensorboard = tensorboard_steps(out / "logs")  # G and D loss terms, both learning rates, metrics, image panel
    for tag in ("g_loss", "g_adv", "g_rec", "d_loss", "d_real", "d_fake"):
        assert len(tensorboard[tag]) == 3 * 3, tag  # every iteration of the 3 epochs, over the resumed run too
    for tag in ("g_lr", "d_lr", "val_psnr", "val_ssim_100", "validation/panel"):
        assert tensorboard[tag] == [1, 2, 3], tag
    assert sum(torch.load(out / "checkpoints" / "mmgan_epoch3.pth", weights_only=True)["curriculum_scenarios"]["counts"]
               .values()) == 3 * 3  # 12 training slices (2 subjects) / batch 4 -> 3 batches per epoch

    metrics = _evaluate(**_overrides(data, out, epochs=3))
    assert list(metrics["scenarios"]) == SCENARIOS
    assert list(metrics["baseline"]["scenarios"]) == SCENARIOS
    assert metrics["scenarios"]["001"]["missing"] == ["T1", "T2"]
    for s in SCENARIOS:
        assert metrics["scenarios"][s]["n_images"] == 6
        assert metrics["scenarios"][s]["psnr"] > metrics["baseline"]["scenarios"][s]["psnr"], s
    assert all((out / "plots" / f"scenario_{s}.png").is_file() for s in SCENARIOS)

    other = tmp_path / "optimized"
    (other / "metrics").mkdir(parents=True)
    shifted = dict(metrics, experiment="optimized")
    (other / "metrics" / "metrics.json").write_text(json.dumps(shifted))
    combined = compare_runs([out / "metrics" / "metrics.json", other / "metrics" / "metrics.json"], tmp_path / "cmp")
    assert set(combined["runs"]) == {"baseline", "optimized"} and len(combined["table"]) == 7


def _inference_run(tmp_path: Path, image_size: int) -> Path:
    """A run folder as training leaves it: a checkpoint with untrained tiny generator weights and the run contract."""
    from monai_pipelines.data.ixi import slicing_record
    from monai_pipelines.networks.mmgan import MMGANGenerator

    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    torch.manual_seed(0)
    args = {"in_channels": 3, "out_channels": 3, "features": 4, "num_downs": int(np.log2(image_size))}
    net = MMGANGenerator(**args)
    contract = {"network_def": {"_target_": "monai_pipelines.networks.mmgan.MMGANGenerator", **args, "_ids_": {}},
                "slicing": slicing_record(image_size), "impute": "zeros"}
    torch.save({"network": net.state_dict(), "contract": contract}, run_dir / "checkpoints" / "mmgan_best.pth")
    return run_dir


def test_step_lr_halves_at_the_scaled_epoch_and_best_ssim_is_kept(tmp_path):
    """The document's StepLR(20, 0.5) over 60 epochs, scaled to StepLR(2, 0.5) over 5: epochs 1-2 train at 2e-4,
    3-4 at 1e-4, 5 at 5e-5 (G and D alike); mmgan_best_ssim.pth is the epoch with the best mean SSIM."""
    data = _slices_dataset(tmp_path / "data")
    out = tmp_path / "steplr"
    _train(**_overrides(data, out, epochs=5, lr_step=2, features=4, batch_size=8))
    history = json.loads((out / "metrics" / "history.json").read_text())
    assert [row["lr"] for row in history] == pytest.approx([2e-4, 2e-4, 1e-4, 1e-4, 5e-5])
    state = torch.load(out / "checkpoints" / "mmgan_latest.pth", weights_only=True)
    # after 5 steps both are at 2e-4 * 0.5 ** (5 // 2), epoch 6's rate
    assert state["d_optimizer"]["param_groups"][0]["lr"] == state["optimizer"]["param_groups"][0]["lr"] == 5e-5
    best_ssim = max(history, key=lambda row: row["val_ssim"])
    kept = torch.load(out / "checkpoints" / "mmgan_best_ssim.pth", weights_only=True)
    assert kept["training_checkpoint"]["best_by"]["val_ssim"] == {"score": pytest.approx(best_ssim["val_ssim"]),
                                                                   "epoch": best_ssim["epoch"]}


def _inference(run_dir: Path, **ov) -> ConfigWorkflow:
    wf = ConfigWorkflow(config_file=str(CONFIGS / "inference.json"), workflow_type="infer", run_id="inference",
                        run_dir=str(run_dir), **ov)
    wf.initialize()
    return wf


def test_inference_phantom_t2_pd_to_t1(tmp_path):
    """Co-registered T2 + PD (IXI's dual echo) -> T1 on T2's grid, through the config (registration off: no ITK)."""
    import nibabel as nib

    from monai_pipelines.data.synthetic.ixi_phantom import write_ixi_phantom

    raw = tmp_path / "raw"
    (subject,) = write_ixi_phantom(raw, n_subjects=1, shape=(32, 24, 20), spacing=(6.0, 6.0, 6.0),
                                   sequences=("T2", "PD"))
    t2, pd = raw / f"{subject}-T2.nii.gz", raw / f"{subject}-PD.nii.gz"
    out = tmp_path / "out"
    wf = _inference(_inference_run(tmp_path, 32), t2=str(t2), pd=str(pd), output_dir=str(out), register=False)
    assert wf.parser.get_parsed_content("inferer").spatial_size == 32  # read from the run's contract
    wf.run()
    wf.finalize()
    names = {p.name for p in out.iterdir()}  # and config/, logs/ of the run wiring
    assert {f"{subject}-T1_synth.nii.gz", f"{subject}_synthesis.png"} <= names and not any("T2_synth" in n for n in names)
    ref, t1 = nib.load(t2), nib.load(out / f"{subject}-T1_synth.nii.gz")
    assert t1.shape == ref.shape == (32, 24, 20)
    np.testing.assert_allclose(t1.affine, ref.affine, atol=1e-5)
    data = t1.get_fdata()
    assert 0.0 <= data.min() and data.max() <= 1.0 and data.max() > 0


@pytest.mark.slow
def test_inference_real_ixi_t1_registered_onto_t2(real_data, tmp_path):
    """Real IXI002: T1 (sagittal, own grid) registered onto T2 (axial) with inference.json's own registration
    settings, PD synthesised on T2's grid."""
    import nibabel as nib

    ixi = real_data / "ixi"
    t1, t2 = ixi / "IXI002-Guys-0828-T1.nii.gz", ixi / "IXI002-Guys-0828-T2.nii.gz"
    wf = _inference(_inference_run(tmp_path, 64), t1=str(t1), t2=str(t2), output_dir=str(tmp_path / "out"))
    inferer = wf.parser.get_parsed_content("inferer")
    result = inferer({"T1": t1, "T2": t2})
    assert result["scenario"] == "110" and list(result["synthesised"]) == ["PD"]
    ref = nib.load(t2)
    brain = nib.load(ixi / "IXI002-Guys-0828-T2-brainmask.nii.gz").get_fdata() > 0
    assert result["inputs"]["T1"].shape == ref.shape
    # skull-stripped T1 moved onto T2's brain: its support matches T2's brain mask
    support = result["inputs"]["T1"] > 0.05
    dice = 2 * (support & brain).sum() / (support.sum() + brain.sum())
    assert dice > 0.85, dice
    written = inferer.save(result, tmp_path / "out")
    pd = nib.load(written[0])
    assert written[0].name == "IXI002-Guys-0828-PD_synth.nii.gz" and written[1].suffix == ".png"
    assert pd.shape == ref.shape
    np.testing.assert_allclose(pd.affine, ref.affine, atol=1e-4)
    from scipy import ndimage

    data = pd.get_fdata()
    assert np.all(data[~ndimage.binary_dilation(brain)] == 0) and data[brain].mean() > 0  # head only, as the inputs


def _phase1_dataset(root: Path, n_subjects: int = 4, size: int = 32) -> tuple[Path, dict]:
    """Head phantoms cut into slices by Phase 1's own slicing (``slice_volume``: RAS, axial, rotated, square), with
    the held-out subject's co-registered T2 and PD also written as NIfTI for inference."""
    import nibabel as nib

    from monai_pipelines.data.ixi import slice_volume

    items, phantoms = [], {}
    for i in range(n_subjects):
        p = make_head_phantom(i, shape=(size, size - 4, 20), spacing=(6.0, 6.0, 6.0), noise=0.01)
        vol = np.stack([normalise_percentile(p.images[s].astype(np.float32), p.head_mask) for s in ("t1", "t2", "pd")])
        slices, zs = slice_volume(vol, p.head_mask.astype(np.float32), size)
        (root / "train").mkdir(parents=True, exist_ok=True)
        for sl, z in zip(slices, zs):
            rel = f"train/S{i}_{z:03d}.npy"
            np.save(root / rel, sl)
            items.append({"image": rel, "subject": f"S{i}", "slice": z})
        phantoms[f"S{i}"] = p
    write_manifest(build_manifest("tiny", items, k=3, seed=0, test_subjects=["S3"], path_keys=["image"]),
                   root / "manifest.json")
    p = phantoms["S3"]
    for seq in ("T2", "PD"):
        nib.save(nib.Nifti1Image(p.images[seq.lower()].astype(np.float32), p.affine), root / f"S3-{seq}.nii.gz")
    nib.save(nib.Nifti1Image(p.head_mask.astype(np.uint8), p.affine), root / "S3-T2-brainmask.nii.gz")  # Phase 1's mask
    return root, phantoms


@pytest.mark.slow
def test_inference_feeds_phase1_slices_and_writes_what_evaluation_computes(tmp_path):
    """T2 + PD -> T1 of the held-out subject: inference feeds the generator the Phase 1 slices (same subject and
    index, T1 zero-imputed) and writes the T1 evaluate.json computes for scenario 011, on the input grid."""
    import nibabel as nib
    from ignite.engine import Events
    from scipy import ndimage

    data, _ = _phase1_dataset(tmp_path / "data")
    out = tmp_path / "run"
    ov = _overrides(data, out, epochs=1)
    _train(**ov)
    wf = ConfigWorkflow(config_file=[str(CONFIGS / "train.json"), str(CONFIGS / "evaluate.json")],
                        workflow_type="eval", run_id="evaluating", **ov)
    wf.initialize()
    evaluated: dict[int, np.ndarray] = {}

    def keep(engine):
        for z, pred in zip(engine.state.batch["slice"], engine.state.output["pred"]["011"]):
            evaluated[int(z)] = pred[0].cpu().numpy()  # T1

    wf.parser.get_parsed_content("evaluate#evaluator").add_event_handler(Events.ITERATION_COMPLETED, keep)
    wf.run()
    wf.finalize()
    assert evaluated

    wf = _inference(out, t2=str(data / "S3-T2.nii.gz"), pd=str(data / "S3-PD.nii.gz"), output_dir=str(tmp_path / "inf"),
                    register=False, png=False)
    fed: list[torch.Tensor] = []
    wf.parser.get_parsed_content("network").register_forward_pre_hook(lambda m, a: fed.append(a[0].detach().clone()))
    wf.run()
    wf.finalize()
    fed_slices = torch.cat(fed).cpu().numpy()  # the axial slices with head in them, in order (the others are 0)
    for z in evaluated:
        phase1 = np.load(data / "train" / f"S3_{z:03d}.npy")
        phase1[0] = 0.0  # T1 missing: zero-imputed, as in training and evaluation
        best = min(range(len(fed_slices)), key=lambda i: np.abs(fed_slices[i] - phase1).max())
        gap = np.abs(fed_slices[best] - phase1).max()
        corr = np.corrcoef(fed_slices[best][1:].ravel(), phase1[1:].ravel())[0, 1]
        assert gap <= 1e-5, f"slice {z} fed at inference differs from Phase 1's by {gap:.4g} (correlation {corr:.3f})"

    t2 = nib.load(data / "S3-T2.nii.gz")
    written = nib.load(tmp_path / "inf" / "S3-T1_synth.nii.gz")
    assert written.shape == t2.shape
    np.testing.assert_allclose(written.affine, t2.affine, atol=1e-5)
    inside = ndimage.binary_dilation(nib.load(data / "S3-T2-brainmask.nii.gz").get_fdata() > 0, iterations=1)
    volume = written.get_fdata()
    diffs = []
    for z, pred in evaluated.items():  # the written volume cut as Phase 1 cuts (RAS phantom: rot90, padded square)
        mask, sl = np.rot90(inside[:, :, z]), np.rot90(volume[:, :, z])
        (h, w), size = sl.shape, pred.shape[0]
        crop = pred[(size - h) // 2 : (size - h) // 2 + h, (size - w) // 2 : (size - w) // 2 + w]
        diffs.append(np.abs(sl[mask] - crop[mask]).max())
    diff = max(diffs)
    assert diff <= 1e-4, f"inference differs from evaluation by {diff:.4g} (max abs, [0, 1] units)"
