"""ConditionalGanTrainer: equals a plain PyTorch pix2pix step, freezes D in the G step, hooks, bf16 autocast, handlers."""

from __future__ import annotations

import copy

import pytest
import torch
from monai.engines.utils import IterationEvents
from monai.handlers import StatsHandler
from torch.utils.data import DataLoader

from monai_pipelines.engines.conditional_gan_trainer import ConditionalGanTrainer, GanOutputKeys
from monai_pipelines.losses.adversarial_loss import AdversarialLoss
from monai_pipelines.networks import NLayerDiscriminator, Pix2PixUnetGenerator

pytestmark = pytest.mark.usefixtures("native_bf16")


def _nets(channels: int = 1, norm: str = "batch"):
    torch.manual_seed(0)
    gen = Pix2PixUnetGenerator(channels, channels, num_downs=5, ngf=4, norm=norm)
    disc = NLayerDiscriminator(2 * channels, ndf=4, n_layers=2, norm=norm)
    return gen, disc


def _loader(n: int = 2, channels: int = 1, batch_size: int = 2) -> DataLoader:
    g = torch.Generator().manual_seed(1)
    items = [
        {"condition": torch.rand(channels, 32, 32, generator=g) * 2 - 1, "target": torch.rand(channels, 32, 32, generator=g)}
        for _ in range(n)
    ]
    return DataLoader(items, batch_size=batch_size, shuffle=False)


def _trainer(gen, disc, loader, lr: float = 0.1, **kwargs) -> ConditionalGanTrainer:
    return ConditionalGanTrainer(
        device="cpu",
        max_epochs=kwargs.pop("max_epochs", 1),
        train_data_loader=loader,
        generator=gen,
        discriminator=disc,
        g_optimizer=torch.optim.SGD(gen.parameters(), lr=lr),
        d_optimizer=torch.optim.SGD(disc.parameters(), lr=lr),
        adversarial_loss=AdversarialLoss("vanilla"),
        lambda_reconstruction=kwargs.pop("lambda_reconstruction", 10.0),
        **kwargs,
    )


def _reference_step(gen, disc, cond, real, lr=0.1, lam=10.0):
    """The reference pix2pix ``optimize_parameters`` in plain PyTorch."""
    opt_g, opt_d = torch.optim.SGD(gen.parameters(), lr=lr), torch.optim.SGD(disc.parameters(), lr=lr)
    bce = torch.nn.BCEWithLogitsLoss()
    fake = gen(cond)
    opt_d.zero_grad()
    pred_fake = disc(torch.cat([cond, fake.detach()], 1))
    pred_real = disc(torch.cat([cond, real], 1))
    loss_d = 0.5 * (bce(pred_fake, torch.zeros_like(pred_fake)) + bce(pred_real, torch.ones_like(pred_real)))
    loss_d.backward()
    opt_d.step()
    for p in disc.parameters():
        p.requires_grad_(False)
    opt_g.zero_grad()
    pred_fake = disc(torch.cat([cond, fake], 1))
    loss_g = bce(pred_fake, torch.ones_like(pred_fake)) + lam * torch.nn.functional.l1_loss(fake, real)
    loss_g.backward()
    opt_g.step()
    return loss_d.item(), loss_g.item()


def test_one_iteration_equals_reference_pix2pix_step_and_updates_both_networks():
    gen, disc = _nets()
    ref_gen, ref_disc = copy.deepcopy(gen), copy.deepcopy(disc)
    loader = _loader(n=2, batch_size=2)
    batch = next(iter(loader))
    trainer = _trainer(gen, disc, loader)
    before_g = [p.detach().clone() for p in gen.parameters()]
    before_d = [p.detach().clone() for p in disc.parameters()]
    trainer.run()
    ref_d, ref_g = _reference_step(ref_gen, ref_disc, batch["condition"], batch["target"])

    out = trainer.state.output
    assert float(out[GanOutputKeys.D_LOSS]) == pytest.approx(ref_d, rel=1e-5)
    assert float(out[GanOutputKeys.G_LOSS]) == pytest.approx(ref_g, rel=1e-5)
    assert float(out["g_loss"]) == pytest.approx(float(out["g_adv"]) + 10.0 * float(out["g_rec"]), rel=1e-6)
    assert float(out["d_loss"]) == pytest.approx(0.5 * (float(out["d_real"]) + float(out["d_fake"])), rel=1e-6)
    for p, q in zip(gen.parameters(), ref_gen.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)
    for p, q in zip(disc.parameters(), ref_disc.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)
    assert any(not torch.equal(a, b) for a, b in zip(before_g, gen.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(before_d, disc.parameters()))
    assert out["pred"].shape == out["target"].shape == out["condition"].shape == (2, 1, 32, 32)
    assert not out["pred"].requires_grad
    assert all(p.requires_grad for p in disc.parameters())  # unfrozen again after the G step


def _reference_mmgan_step(gen, disc, cond, real, lr=0.1, lam=10.0):
    """trane293/mm-gan's iteration in plain PyTorch: G first against D([fake, x_r]), then D on [x_r, x_r] and on
    [fake, x_r] with the generator run again after its step."""
    opt_g, opt_d = torch.optim.SGD(gen.parameters(), lr=lr), torch.optim.SGD(disc.parameters(), lr=lr)
    bce = torch.nn.BCEWithLogitsLoss()
    opt_g.zero_grad()
    fake = gen(cond)
    pred_fake = disc(torch.cat([fake, real], 1))
    loss_g = bce(pred_fake, torch.ones_like(pred_fake)) + lam * torch.nn.functional.l1_loss(fake, real)
    loss_g.backward()
    opt_g.step()
    opt_d.zero_grad()
    pred_real = disc(torch.cat([real, real], 1))
    fake = gen(cond)
    pred_fake = disc(torch.cat([fake.detach(), real], 1))
    loss_d = 0.5 * (bce(pred_real, torch.ones_like(pred_real)) + bce(pred_fake, torch.zeros_like(pred_fake)))
    loss_d.backward()
    opt_d.step()
    return loss_d.item(), loss_g.item()


def test_mmgan_order_and_pair_equal_the_reference_iteration():
    gen, disc = _nets(norm="instance")
    ref_gen, ref_disc = copy.deepcopy(gen), copy.deepcopy(disc)
    loader = _loader(n=2, batch_size=2)
    batch = next(iter(loader))
    trainer = _trainer(gen, disc, loader, discriminator_pair="image_target", update_order="g_first")
    shown = []
    disc.register_forward_pre_hook(lambda m, a: shown.append(a[0].detach().clone()))
    trainer.run()
    ref_d, ref_g = _reference_mmgan_step(ref_gen, ref_disc, batch["condition"], batch["target"])
    out = trainer.state.output
    assert float(out[GanOutputKeys.G_LOSS]) == pytest.approx(ref_g, rel=1e-5)
    assert float(out[GanOutputKeys.D_LOSS]) == pytest.approx(ref_d, rel=1e-5)
    for p, q in zip(list(gen.parameters()) + list(disc.parameters()),
                    list(ref_gen.parameters()) + list(ref_disc.parameters())):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)
    # G step: [fake, real]; D step: [refreshed fake, real] then [real, real]; the condition is never shown
    assert len(shown) == 3 and all(torch.equal(x[:, 1:], batch["target"]) for x in shown)
    assert torch.equal(shown[2][:, :1], batch["target"]) and not torch.equal(shown[0][:, :1], shown[1][:, :1])


def test_unknown_pair_or_order_is_one_clear_error():
    gen, disc = _nets()
    with pytest.raises(ValueError, match="update_order must be one of"):
        _trainer(gen, disc, _loader(), update_order="together")
    with pytest.raises(ValueError, match="discriminator_pair must be one of"):
        _trainer(gen, disc, _loader(), discriminator_pair="condition_target")


def test_discriminator_gradients_untouched_by_generator_step():
    gen, disc = _nets()
    trainer = _trainer(gen, disc, _loader())
    seen = {}

    @trainer.on(IterationEvents.LOSS_COMPLETED)
    def _before_g_backward(engine):
        seen["d_grads"] = [p.grad.clone() for p in disc.parameters()]
        seen["d_params"] = [p.detach().clone() for p in disc.parameters()]

    @trainer.on(IterationEvents.BACKWARD_COMPLETED)
    def _after_g_backward(engine):
        seen["frozen"] = not any(p.requires_grad for p in disc.parameters())
        seen["same_grads"] = all(torch.equal(a, p.grad) for a, p in zip(seen["d_grads"], disc.parameters()))
        seen["g_has_grads"] = all(p.grad is not None for p in gen.parameters())

    trainer.run()
    assert seen["frozen"] and seen["same_grads"] and seen["g_has_grads"]
    assert all(torch.equal(a, p) for a, p in zip(seen["d_params"], disc.parameters()))  # no D update after its step


@pytest.mark.parametrize("amp", [False, True])
def test_autocast_bf16_active_on_cpu_only_with_amp(amp):
    gen, disc = _nets(norm="instance")
    dtypes = {"g": set(), "d": set()}
    gen.model.model[0].register_forward_hook(lambda m, i, o: dtypes["g"].add(o.dtype))
    disc.model[0].register_forward_hook(lambda m, i, o: dtypes["d"].add(o.dtype))
    trainer = _trainer(gen, disc, _loader(), amp=amp)
    trainer.run()
    expected = torch.bfloat16 if amp else torch.float32
    assert dtypes == {"g": {expected}, "d": {expected}}
    assert not trainer.g_scaler.is_enabled() and not trainer.d_scaler.is_enabled()  # no loss scaling for bf16
    assert all(torch.isfinite(torch.as_tensor(trainer.state.output[k])) for k in ("g_loss", "d_loss"))
    assert all(p.dtype == torch.float32 for p in gen.parameters())


def test_hooks_mask_reconstruction_and_set_per_channel_targets():
    gen, disc = _nets(channels=2, norm="instance")
    calls = {}

    def batch_transform(condition, target, engine):
        mask = torch.tensor([1.0, 0.0]).reshape(1, 2, 1, 1).expand(condition.shape[0], -1, 1, 1)
        return condition * mask, target, {"mask": mask}

    def output_transform(fake, condition, target, extras):
        calls["output"] = True
        return fake * (1 - extras["mask"]) + target * extras["mask"]  # implicit conditioning

    def d_targets(logits, extras):
        calls["targets_shape"] = tuple(logits.shape)
        return extras["mask"][:, :, 0, 0].amax(1), True  # (B,) per-sample targets for D; G all real

    trainer = _trainer(
        gen,
        disc,
        _loader(channels=2),
        batch_transform=batch_transform,
        generator_output_transform=output_transform,
        reconstruction_weight_fn=lambda extras: 1 - extras["mask"],
        discriminator_targets_fn=d_targets,
    )
    trainer.run()
    out = trainer.state.output
    assert calls["output"] and calls["targets_shape"][:2] == (2, 1)
    assert torch.equal(out["condition"][:, 1], torch.zeros_like(out["condition"][:, 1]))
    assert torch.equal(out["pred"][:, 0], out["target"][:, 0])  # available channel copied back
    expected = (out["pred"][:, 1] - out["target"][:, 1]).abs().mean()  # L1 on the missing channel only
    assert float(out["g_rec"]) == pytest.approx(float(expected), rel=1e-5)


def test_monai_stats_handler_channels_last_and_two_epochs(capsys):
    gen, disc = _nets()
    trainer = _trainer(
        gen,
        disc,
        _loader(n=4),
        max_epochs=2,
        channels_last=True,
        train_handlers=[StatsHandler(name="gan_test", output_transform=lambda x: {k: x[k] for k in ("g_loss", "d_loss")})],
    )
    assert gen.model.model[0].weight.is_contiguous(memory_format=torch.channels_last)
    trainer.run()
    assert trainer.state.epoch == 2 and trainer.state.iteration == 4
    logged = capsys.readouterr()
    assert "g_loss:" in logged.out + logged.err and "d_loss:" in logged.out + logged.err
    assert trainer.state.output["pred"].is_contiguous(memory_format=torch.channels_last)


def test_missing_batch_key_is_one_clear_error():
    gen, disc = _nets()
    trainer = _trainer(gen, disc, DataLoader([{"image": torch.zeros(1, 32, 32)}], batch_size=1))
    with pytest.raises(ValueError, match="condition_key"):
        trainer.run()


def test_linear_decay_lambda_matches_reference_epoch_ordering():
    from monai_pipelines.engines.conditional_gan_trainer import linear_decay_lambda

    rule = linear_decay_lambda(100, 100)
    # LambdaLR evaluates rule(k) for Ignite epoch k + 1 (stepped at each epoch end)
    assert [rule(k) for k in (0, 99)] == [1.0, 1.0]
    assert rule(100) == pytest.approx(1 - 1 / 101) and rule(199) == pytest.approx(1 / 101) and rule(200) == 0.0
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, linear_decay_lambda(2, 2))
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    assert lrs == pytest.approx([1.0, 1.0, 2 / 3, 1 / 3])
