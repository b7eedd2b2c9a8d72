"""TrainingCheckpoint: full-state round trip, file sets, atomic writes, fallback, resume; a SIGKILL'd run resumes
and ends bit-identical to an uninterrupted one, also when killed mid-epoch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from ignite.engine import Engine, Events

import monai_pipelines.handlers.training_checkpoint as tc
from monai_pipelines.handlers import TrainingCheckpoint, latest_checkpoint, load_checkpoint
from monai_pipelines.utils.atomic_write import atomic_save
from tests.handlers._resume_script import build

SCRIPT = Path(__file__).with_name("_resume_script.py")


def _same_state(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a) and a.keys() == b.keys()


@pytest.fixture(scope="module")
def resumed_and_straight(tmp_path_factory):
    """2 epochs, then the same setup asked for 4 (resumes), versus 4 epochs without a break."""
    root = tmp_path_factory.mktemp("roundtrip")
    first = build(root / "split", epochs=2, plot_every=100)
    first.trainer.run()
    resumed = build(root / "split", epochs=4, plot_every=100)
    resumed.trainer.run()
    straight = build(root / "straight", epochs=4, plot_every=100)
    straight.trainer.run()
    return root, resumed, straight


def test_resume_equals_uninterrupted_run(resumed_and_straight):
    root, resumed, straight = resumed_and_straight
    assert resumed.checkpoint.resumed_from.name == "checkpoint_latest.pt"
    assert sorted(resumed.trainer.draws) == [3, 4]  # epochs 1-2 were not rerun
    # RNG states: the next torch.rand after resuming is what the uninterrupted run drew
    assert [resumed.trainer.draws[e] for e in (3, 4)] == [straight.trainer.draws[e] for e in (3, 4)]
    # network, optimizer (momentum), scheduler, engine counters: identical (shuffle + random augmentation included)
    assert _same_state(resumed.net.state_dict(), straight.net.state_dict())
    mom_a = [s["momentum_buffer"] for s in resumed.optimizer.state_dict()["state"].values()]
    mom_b = [s["momentum_buffer"] for s in straight.optimizer.state_dict()["state"].values()]
    assert all(torch.equal(x, y) for x, y in zip(mom_a, mom_b))
    assert resumed.scheduler.state_dict() == straight.scheduler.state_dict()
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(0.025)
    assert (resumed.trainer.state.epoch, resumed.trainer.state.iteration) == (4, 12)
    # history continues seamlessly, and the file on disk has every epoch once
    assert [r["epoch"] for r in resumed.history.history] == [1, 2, 3, 4]
    on_disk = json.loads((root / "split" / "metrics" / "history.json").read_text())
    assert [r["train_loss"] for r in on_disk] == pytest.approx([r["train_loss"] for r in straight.history.history])


def test_checkpoint_content_and_loading(resumed_and_straight):
    root, resumed, _ = resumed_and_straight
    ckpt_dir = root / "split" / "checkpoints"
    newest = latest_checkpoint(ckpt_dir)
    assert newest == ckpt_dir / "checkpoint_latest.pt"
    assert sorted(p.name for p in ckpt_dir.iterdir()) == [
        "checkpoint_epoch3.pt", "checkpoint_epoch4.pt", "checkpoint_latest.pt", "model_final.pt"]
    payload = torch.load(newest, weights_only=True)
    expected = {"network", "optimizer", "scheduler", "trainer", "history", "rng_state", "training_checkpoint"}
    assert expected <= set(payload)
    assert payload["trainer"]["iteration"] == 12 and len(payload["history"]["history"]) == 4
    assert isinstance(payload["rng_state"]["numpy"]["keys"], torch.Tensor)
    # final file: network weights only; load_checkpoint for evaluation/export
    final = ckpt_dir / "model_final.pt"
    assert set(torch.load(final, weights_only=True)) == {"network"}
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 1, 1))
    load_checkpoint(final, {"network": net})
    assert _same_state(net.state_dict(), resumed.net.state_dict())
    net2 = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 1, 1))
    load_checkpoint(newest, {"network": net2})  # just the network out of a full checkpoint
    assert _same_state(net2.state_dict(), resumed.net.state_dict())
    with pytest.raises(ValueError, match="no entry 'optimizer'"):  # an InputError: one line for the user
        load_checkpoint(final, {"network": net, "optimizer": resumed.optimizer})
    with pytest.raises(ValueError, match="does not fit"):
        load_checkpoint(final, {"network": torch.nn.Conv2d(1, 1, 3)})
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(ckpt_dir / "missing.pt", {"network": net})
    bare = root / "bare.pt"
    torch.save(resumed.net.state_dict(), bare)  # weights-only files from elsewhere load too
    load_checkpoint(bare, {"network": torch.nn.DataParallel(net2)})


def test_finished_run_with_same_epochs_just_finishes(resumed_and_straight):
    root, resumed, _ = resumed_and_straight
    again = build(root / "split", epochs=3)  # fewer epochs than the checkpoint holds
    again.trainer.run()
    assert again.trainer.draws == {} and again.trainer.state.epoch == 4
    assert again.checkpoint.resumed_from.name == "checkpoint_latest.pt"


def _toy_run(save_dir, epochs, scores=None, **kwargs):
    """A plain Ignite engine (2 iterations/epoch) whose metric 'score' follows ``scores`` epoch by epoch."""
    net = torch.nn.Linear(2, 1)
    engine = Engine(lambda e, b: None)
    if scores is not None:
        engine.add_event_handler(
            Events.EPOCH_COMPLETED, lambda e: e.state.metrics.__setitem__("score", scores[e.state.epoch - 1])
        )
    handler = TrainingCheckpoint(save_dir, {"net": net}, **kwargs)
    handler.attach(engine)
    engine.run(range(2), max_epochs=epochs)
    return engine, handler


def test_snapshots_best_and_final_by_name(tmp_path):
    scores = [0.1, 0.5, 0.3, 0.7, 0.2, 0.6]
    _, handler = _toy_run(tmp_path / "a", 6, scores, snapshot_every=3, key_metric="score", key_metric_mode="max",
                          final="final.pt")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["checkpoint_best.pt", "checkpoint_epoch3.pt", "checkpoint_epoch6.pt", "checkpoint_latest.pt",
                     "final.pt"]
    best = torch.load(tmp_path / "a" / "checkpoint_best.pt", weights_only=True)
    assert best["training_checkpoint"]["best_score"] == pytest.approx(0.7) and best["trainer"]["iteration"] == 8
    assert (handler.best_score, handler.best_epoch) == (pytest.approx(0.7), 4)

    # the MM-GAN names: an epoch file every epoch, the last 3 kept, mmgan_best.pth, no separate final
    _, handler = _toy_run(tmp_path / "b", 5, scores, latest="mmgan_latest.pth", snapshot="mmgan_epoch{epoch}.pth",
                          snapshot_every=1, keep_snapshots=3, best="mmgan_best.pth", final=None, key_metric="score")
    names = sorted(p.name for p in (tmp_path / "b").iterdir())
    assert names == ["mmgan_best.pth", "mmgan_epoch3.pth", "mmgan_epoch4.pth", "mmgan_epoch5.pth",
                     "mmgan_latest.pth"]
    assert (handler.best_score, handler.best_epoch) == (pytest.approx(0.1), 1)
    assert latest_checkpoint(tmp_path / "b").name == "mmgan_latest.pth"
    # glioma's names: last.pt is the rolling full-state checkpoint
    _toy_run(tmp_path / "c", 2, scores, latest="last.pt", best="best.pt", final=None, key_metric="score")
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["best.pt", "last.pt"]
    assert torch.load(tmp_path / "c" / "last.pt", weights_only=True)["trainer"]["iteration"] == 4
    with pytest.raises(ValueError, match="key_metric_mode"):
        TrainingCheckpoint(tmp_path, {}, key_metric_mode="best")


def _two_metric_run(save_dir, epochs, psnr, ssim):
    """_toy_run with two metrics per epoch: 'psnr' ranks mmgan_best.pth, 'ssim' mmgan_best_ssim.pth."""
    net = torch.nn.Linear(2, 1)
    engine = Engine(lambda e, b: None)

    def metrics(e):
        e.state.metrics.update(psnr=psnr[e.state.epoch - 1], ssim=ssim[e.state.epoch - 1])

    engine.add_event_handler(Events.EPOCH_COMPLETED, metrics)
    handler = TrainingCheckpoint(save_dir, {"net": net}, latest="mmgan_latest.pth", best="mmgan_best.pth",
                                 final=None, key_metric="psnr", key_metric_mode="max",
                                 best_by={"ssim": ["mmgan_best_ssim.pth", "max"]})
    handler.attach(engine)
    engine.run(range(2), max_epochs=epochs)
    return handler


def test_best_by_keeps_a_best_copy_per_metric_across_a_resume(tmp_path):
    psnr, ssim = [20.0, 22.0, 21.0, 21.5], [0.50, 0.45, 0.60, 0.55]
    handler = _two_metric_run(tmp_path, 3, psnr, ssim)
    by_psnr = torch.load(tmp_path / "mmgan_best.pth", weights_only=True)
    by_ssim = torch.load(tmp_path / "mmgan_best_ssim.pth", weights_only=True)
    assert by_psnr["trainer"]["iteration"] == 4 and by_ssim["trainer"]["iteration"] == 6  # each its best epoch
    assert by_ssim["training_checkpoint"]["best_by"] == {"ssim": {"score": pytest.approx(0.60), "epoch": 3}}
    assert handler.best_by_scores == {"ssim": (pytest.approx(0.60), 3)}
    handler = _two_metric_run(tmp_path, 4, psnr, ssim)  # resumed: epoch 4's 0.55 does not beat the restored 0.60
    assert handler.best_by_scores == {"ssim": (pytest.approx(0.60), 3)}
    assert torch.load(tmp_path / "mmgan_best_ssim.pth", weights_only=True)["trainer"]["iteration"] == 6
    with pytest.raises(ValueError, match="best_by"):
        TrainingCheckpoint(tmp_path, {}, best_by={"ssim": ["x.pth", "highest"]})


def test_contract_travels_in_every_file(tmp_path):
    _toy_run(tmp_path, 2, [0.1, 0.2], key_metric="score", contract={"spacing": [1.0, 1.0, 2.5]})
    for path in tmp_path.iterdir():
        assert torch.load(path, weights_only=True)["contract"] == {"spacing": [1.0, 1.0, 2.5]}, path.name


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    import monai_pipelines.utils.atomic_write as aw

    _toy_run(tmp_path, 1)
    good = tmp_path / "checkpoint_latest.pt"
    before = good.read_bytes()
    real_save = torch.save

    def failing_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")  # some bytes reach the disk, then the disk fills
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="No space"):
        atomic_save({"x": torch.zeros(3)}, good)  # overwriting an existing checkpoint
    with pytest.raises(OSError, match="No space"):
        _toy_run(tmp_path, 2)  # the resumed run fails writing epoch 2
    monkeypatch.setattr(torch, "save", real_save)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_latest.pt", "final_model.pt"]
    assert good.read_bytes() == before and torch.load(good, weights_only=True)["trainer"]["iteration"] == 2
    # a temp file left by a killed process is removed at the next start
    (tmp_path / f".checkpoint_latest.pt.999.pt{aw.TMP_SUFFIX}").write_bytes(b"partial")
    engine, _ = _toy_run(tmp_path, 2)
    assert engine.state.iteration == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_latest.pt", "final_model.pt"]


def test_corrupt_newest_falls_back_to_older(tmp_path, caplog):
    _toy_run(tmp_path, 3, snapshot_every=1, keep_snapshots=2)
    newest = tmp_path / "checkpoint_latest.pt"
    newest.write_bytes(newest.read_bytes()[:200])  # truncated
    (tmp_path / "checkpoint_epoch3.pt").write_bytes(b"not a checkpoint")
    with caplog.at_level("INFO", logger=tc.__name__):
        engine, handler = _toy_run(tmp_path, 4, snapshot_every=1, keep_snapshots=2)
    assert handler.resumed_from.name == "checkpoint_epoch2.pt"
    assert "checkpoint_latest.pt cannot be read" in caplog.text
    assert "resumed from" in caplog.text and "at epoch 2" in caplog.text
    assert engine.state.iteration == 8
    assert (tmp_path / "checkpoint_epoch3.pt.corrupt").exists()
    for name in ("checkpoint_epoch3.pt", "checkpoint_epoch4.pt", "checkpoint_latest.pt"):  # rewritten, readable
        torch.load(tmp_path / name, weights_only=True)


def test_code_pickle_is_refused_in_one_line(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"network": Evil()}))
    with pytest.raises(ValueError, match="cannot be read as weights only") as info:
        load_checkpoint(path, {"network": torch.nn.Linear(1, 1)})
    assert "\n" not in str(info.value)


def _kill_when(cmd: list[str], env: dict, ready) -> None:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 120
        while not ready():
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "the run did not reach the kill point within 120 s"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _iteration(path: Path) -> int:
    try:
        return int(torch.load(path, weights_only=True)["trainer"]["iteration"])
    except Exception:
        return -1


def test_killed_mid_epoch_resumes_bit_identical_and_finishes(tmp_path):
    """SIGKILL inside an epoch (checkpoint every iteration), rerun: every file the kill left is complete, and the rerun
    finishes with the same weights, optimizer state and history (timings aside) as a run never interrupted, its
    final model, plots and the last snapshots (with DataLoader workers: tests/bundles/test_kill_resume.py, every
    bundle)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = ["--epochs", "4", "--every-n-iterations", "1", "--plot-every", "2"]
    straight = tmp_path / "straight"  # in this process, with the script's one thread
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        build(straight, epochs=4, every_n_iterations=1, plot_every=2).trainer.run()
    finally:
        torch.set_num_threads(threads)
    killed = tmp_path / "killed"
    ckpt_dir = killed / "checkpoints"
    cmd = [sys.executable, str(SCRIPT), str(killed), *args, "--sleep", "0.05"]
    latest = ckpt_dir / "checkpoint_latest.pt"
    _kill_when(cmd, env, lambda: latest.exists() and _iteration(latest) == 5)  # epoch 2, its 2nd of 3 batches
    assert not (ckpt_dir / "model_final.pt").exists()
    for p in ckpt_dir.glob("*.pt"):  # whatever the kill interrupted, every checkpoint file is complete
        torch.load(p, weights_only=True)

    rerun = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "at epoch 1, iteration 5" in rerun.stdout or "iteration 6" in rerun.stdout, rerun.stdout
    assert "finished at epoch 4" in rerun.stdout
    a = torch.load(straight / "checkpoints" / "model_final.pt", weights_only=True)["network"]
    b = torch.load(ckpt_dir / "model_final.pt", weights_only=True)["network"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    pa = torch.load(straight / "checkpoints" / "checkpoint_latest.pt", weights_only=True)
    pb = torch.load(latest, weights_only=True)
    for key in ("optimizer", "scheduler", "trainer"):
        assert str(pa[key]) == str(pb[key]), key
    rows = [[{k: v for k, v in r.items() if k != "epoch_time"} for r in p["history"]["history"]] for p in (pa, pb)]
    assert rows[0] == rows[1] and [r["epoch"] for r in rows[1]] == [1, 2, 3, 4]
    assert not [p for p in ckpt_dir.iterdir() if p.name.endswith(".tmp")]
    assert (killed / "plots" / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in ckpt_dir.glob("checkpoint_epoch*.pt")) == [f"checkpoint_epoch{e}.pt" for e in (3, 4)]


def test_best_by_evaluator_metric_ignores_stale_validation(tmp_path):
    from ignite.metrics import MeanSquaredError
    from monai.handlers import ValidationHandler, from_engine

    from monai_pipelines.engines import SupervisedEvaluator, SupervisedTrainer

    def setup(epochs):
        torch.manual_seed(0)
        data = [{"image": torch.randn(2, 1, 6, 6), "label": torch.randn(2, 1, 6, 6)} for _ in range(2)]
        net = torch.nn.Conv2d(1, 1, 3, padding=1)
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        evaluator = SupervisedEvaluator(
            device=torch.device("cpu"), val_data_loader=data, network=net,
            key_val_metric={"val_mse": MeanSquaredError(output_transform=from_engine(["pred", "label"]))},
            metric_cmp_fn=lambda cur, best: cur < best,
        )
        trainer = SupervisedTrainer(
            device=torch.device("cpu"), max_epochs=epochs, train_data_loader=data, network=net, optimizer=opt,
            loss_function=torch.nn.MSELoss(), train_handlers=[ValidationHandler(validator=evaluator, interval=2)],
        )
        written = []
        handler = TrainingCheckpoint(tmp_path, {"network": net, "optimizer": opt, "trainer": trainer},
                                     key_metric="val_mse", metric_engine=evaluator)
        handler.attach(trainer)
        record = lambda e: written.append(handler.best_epoch)  # noqa: E731
        # registered at start, like the checkpoint's own epoch-end work, so it runs after it
        trainer.add_event_handler(Events.STARTED, lambda e: e.add_event_handler(Events.EPOCH_COMPLETED, record))
        return trainer, evaluator, handler, written

    trainer, evaluator, handler, written = setup(4)
    trainer.run()
    assert written == [-1, 2, 2, 4]  # epochs 1 and 3 did not validate: no best from stale metrics
    best = torch.load(tmp_path / "checkpoint_best.pt", weights_only=True)
    assert best["training_checkpoint"]["best_score"] == pytest.approx(evaluator.state.metrics["val_mse"])
    assert best["trainer"]["iteration"] == 8
    assert (evaluator.state.best_metric_epoch, handler.best_epoch) == (4, 4)

    trainer, evaluator, handler, _ = setup(6)  # resumed: best score and MONAI's best-metric bookkeeping restored
    resumed: list = []
    trainer.add_event_handler(
        Events.STARTED, lambda e: resumed.append((handler.best_epoch, evaluator.state.best_metric_epoch))
    )
    trainer.run()
    assert resumed == [(4, 4)]


class _Stop(Exception):
    pass


def test_interim_keeps_latest_at_the_last_epoch_end_and_resumes(tmp_path):
    """glioma's last.pt: saves within an epoch go to the interim file, so last.pt is always a whole epoch's state;
    a run stopped mid-epoch resumes from the interim file, which the next epoch-end save removes."""
    net = torch.nn.Linear(2, 1)
    engine = Engine(lambda e, b: None)

    def stop(e):
        if e.state.iteration == 4:
            raise _Stop

    engine.add_event_handler(Events.ITERATION_STARTED, stop)
    kwargs = {"latest": "last.pt", "interim": "interim.pt", "best": None, "final": None, "every_n_iterations": 1}
    TrainingCheckpoint(tmp_path, {"net": net}, **kwargs).attach(engine)
    with pytest.raises(_Stop):
        engine.run(range(2), max_epochs=2)
    iteration = {p.name: torch.load(p, weights_only=True)["trainer"]["iteration"] for p in tmp_path.iterdir()}
    assert iteration == {"last.pt": 2, "interim.pt": 3}  # without interim, last.pt held iteration 3 (mid-epoch)

    engine = Engine(lambda e, b: None)
    handler = TrainingCheckpoint(tmp_path, {"net": net}, **kwargs)
    handler.attach(engine)
    engine.run(range(2), max_epochs=2)
    assert handler.resumed_from.name == "interim.pt" and engine.state.iteration == 4
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    assert torch.load(tmp_path / "last.pt", weights_only=True)["trainer"]["iteration"] == 4
    with pytest.raises(ValueError, match="interim"):
        TrainingCheckpoint(tmp_path, {}, latest="last.pt", interim="last.pt")


def _accumulating_run(save_dir: Path, stop_at: int | None = None, epochs: int = 1):
    """A SupervisedTrainer summing gradients over 2 iterations, with an epoch-wise training metric; a checkpoint
    every iteration; optionally stopped (as a kill) when iteration ``stop_at`` starts."""
    from ignite.metrics import MeanAbsoluteError
    from monai.handlers import from_engine

    from monai_pipelines.engines import SupervisedTrainer
    from monai_pipelines.handlers.epoch_metrics_state import EpochMetricsState

    torch.manual_seed(0)
    data = [{"image": torch.randn(1, 1, 6, 6), "label": torch.randn(1, 1, 6, 6)}] * 4  # a list restarts on resume
    net = torch.nn.Conv2d(1, 1, 3, padding=1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    trainer = SupervisedTrainer(
        device=torch.device("cpu"), max_epochs=2, train_data_loader=data, network=net, optimizer=opt,
        loss_function=torch.nn.MSELoss(), accumulation_steps=2,
        key_train_metric={"train_mae": MeanAbsoluteError(output_transform=from_engine(["pred", "label"]))})
    metrics = EpochMetricsState(trainer)
    TrainingCheckpoint(save_dir, {"network": net, "optimizer": opt, "train_metrics": metrics},
                       every_n_iterations=1, best=None, final=None).attach(trainer)
    if stop_at is not None:
        trainer.add_event_handler(Events.ITERATION_STARTED(once=stop_at), lambda e: (_ for _ in ()).throw(_Stop()))
    return trainer, net


def test_resume_inside_an_accumulation_cycle_continues_its_gradient_sum_and_training_metric(tmp_path):
    """Killed after iteration 7 (half of an accumulation cycle, inside epoch 2): the resumed run steps with the
    gradients of iterations 3 and 4, as the uninterrupted run does, and reports the epochs' metric over all their iterations."""
    straight, net_a = _accumulating_run(tmp_path / "straight")
    straight.run()
    with pytest.raises(_Stop):
        _accumulating_run(tmp_path / "killed", stop_at=8)[0].run()
    assert "gradients" in torch.load(tmp_path / "killed" / "checkpoint_latest.pt", weights_only=True)
    resumed, net_b = _accumulating_run(tmp_path / "killed")
    resumed.run()
    assert resumed.state.iteration == 8 and _same_state(net_a.state_dict(), net_b.state_dict())
    assert resumed.state.metrics["train_mae"] == straight.state.metrics["train_mae"]
