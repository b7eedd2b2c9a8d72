"""Conditional GAN training (pix2pix, MM-GAN) as a MONAI ``Trainer``: the discriminator sees image pairs.

MONAI's ``GanTrainer`` feeds latent codes to the generator and its ``AdversarialTrainer`` never shows the discriminator
the condition, so this engine is ours; it keeps MONAI's Workflow/Ignite events so every MONAI handler attaches.
The two reference recipes differ in what the discriminator is shown and in the order of the updates, so both are
settings (:class:`DiscriminatorPair`, :class:`UpdateOrder`): pix2pix (junyanz/pytorch-CycleGAN-and-pix2pix) steps D
on ``[condition, image]`` and then G; MM-GAN (trane293/mm-gan, ``train_mmgan_brats2018.py``) steps G first, then D on
``[image, real]`` (``discriminator(fake_x, x_r)`` and ``discriminator(x_r, x_r)``) with the generator run again after
its update.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from monai.engines import Trainer
from monai.engines.utils import IterationEvents
from monai.engines.workflow import Workflow
from monai.utils.enums import StrEnum
from torch.optim import Optimizer

from monai_pipelines.engines.amp import autocast, grad_scaler, network_to_channels_last, to_channels_last
from monai_pipelines.engines.run_settings import takes_run_settings
from monai_pipelines.engines.supervised_trainer import plain_tensor
from monai_pipelines.losses.adversarial_loss import AdversarialLoss
from monai_pipelines.utils.enums import Keys


class DiscriminatorPair(StrEnum):
    """What the discriminator sees, as channels ``[a, b]`` (``image`` = the real target or the generator's output)."""

    CONDITION_IMAGE = "condition_image"  # pix2pix: [condition, image]
    IMAGE_TARGET = "image_target"  # MM-GAN reference: [image, real target] (real pair: [target, target])


class UpdateOrder(StrEnum):
    """Order of the two optimiser steps in an iteration."""

    D_FIRST = "d_first"  # pix2pix: D on the detached output, then G with D frozen
    G_FIRST = "g_first"  # MM-GAN reference: G against the current D, then D on the updated generator's output


class GanOutputKeys(StrEnum):
    """Scalars in ``engine.state.output`` besides the images (condition, target, pred)."""

    LOSS = "loss"  # = g_loss, for handlers that look for "loss"
    G_LOSS = "g_loss"  # lambda_adversarial * g_adv + lambda_reconstruction * g_rec
    G_ADV = "g_adv"
    G_REC = "g_rec"
    D_LOSS = "d_loss"  # 0.5 * (d_real + d_fake), as the reference
    D_REAL = "d_real"
    D_FAKE = "d_fake"


def _prepare_condition_target(
    batchdata: Mapping[str, Any] | Sequence[torch.Tensor],
    device: torch.device | str | None = None,
    non_blocking: bool = False,
    condition_key: str = Keys.CONDITION,
    target_key: str = Keys.TARGET,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(batchdata, Mapping):
        missing = [k for k in (condition_key, target_key) if k not in batchdata]
        if missing:
            raise ValueError(f"batch has no {missing} (keys: {sorted(batchdata)}); set condition_key / target_key.")
        condition, target = batchdata[condition_key], batchdata[target_key]
    else:
        condition, target = batchdata[0], batchdata[1]
    return (
        torch.as_tensor(condition).to(device=device, non_blocking=non_blocking, **kwargs),
        torch.as_tensor(target).to(device=device, non_blocking=non_blocking, **kwargs),
    )


def prepare_condition_target(condition_key: str = Keys.CONDITION, target_key: str = Keys.TARGET) -> Callable:
    """A MONAI ``prepare_batch`` returning ``(batch[condition_key], batch[target_key])`` on the device.

    Also usable by ``SupervisedEvaluator`` to validate the generator (condition -> image, target -> label).
    """
    return functools.partial(_prepare_condition_target, condition_key=condition_key, target_key=target_key)


@takes_run_settings
class ConditionalGanTrainer(Trainer):
    """Conditional GAN training: per iteration one discriminator step and one generator step with D frozen.

    With the default ``discriminator_pair="condition_image"`` and ``update_order="d_first"`` (pix2pix), D step:
    ``d_loss = 0.5 * (adv(D([c, fake.detach()]), fake) + adv(D([c, real]), real))``; G step:
    ``g_loss = lambda_adversarial * adv(D([c, fake]), real) + lambda_reconstruction * rec(fake, real)`` with D's
    ``requires_grad`` off, so the generator step never touches D's gradients. ``[a, b]`` is channel concatenation.
    ``discriminator_pair="image_target"`` shows D ``[fake, real]`` and ``[real, real]`` instead; ``update_order=
    "g_first"`` steps G first and then D on the output of the generator run again after its step (MM-GAN's reference;
    one more generator forward per iteration, without gradients).

    Args:
        generator, discriminator: networks; the discriminator takes condition + target channels.
        adversarial_loss: ``loss(logits, target_is_real | targets, for_discriminator)``; default vanilla GAN.
        reconstruction_loss: default ``torch.nn.L1Loss()``; with ``reconstruction_weight_fn`` it must have a
            ``reduction`` attribute (a torch/MONAI loss), evaluated element-wise and averaged over the weights.
        prepare_batch: MONAI signature ``(batch, device, non_blocking, **kw) -> (condition, target, ...)``;
            default reads ``condition_key`` / ``target_key`` from dict batches.
        amp, amp_dtype: autocast on the device actually used (bf16 on CPU; bf16 or fp16 on CUDA, fp16 with loss
            scaling); see :mod:`monai_pipelines.engines.amp`.
        channels_last: move both networks and the batches to channels-last memory format.
        batch_transform: ``(condition, target, engine) -> (condition, target, extras: dict)``, e.g. scenario
            masking; ``extras`` is handed to the hooks below.
        generator_output_transform: ``(fake, condition, target, extras) -> fake``, e.g. implicit conditioning.
        reconstruction_weight_fn: ``extras -> weights`` broadcastable to the output, e.g. 1 on missing channels.
        discriminator_targets_fn: ``(d_fake_logits, extras) -> targets`` of the discriminator for the fake pair
            (default all fake), or a tuple ``(d_targets, g_targets)`` to also set the generator's targets for the
            fake (default all real). Targets are bools or tensors as :class:`AdversarialLoss` takes them.
        discriminator_pair: :class:`DiscriminatorPair`, what D sees.
        update_order: :class:`UpdateOrder`, which network steps first.

    ``engine.state.output`` holds the :class:`GanOutputKeys` scalars (detached tensors) and the detached
    ``condition``, ``target`` and ``pred`` batches. Fires MONAI ``IterationEvents``: FORWARD_COMPLETED (generator
    output ready), LOSS_COMPLETED and BACKWARD_COMPLETED (generator step), MODEL_COMPLETED (both steps done).
    """

    #: scalars of ``engine.state.output`` that logging and history record (the first is the loss)
    output_scalars: tuple[str, ...] = (
        GanOutputKeys.G_LOSS, GanOutputKeys.G_ADV, GanOutputKeys.G_REC,
        GanOutputKeys.D_LOSS, GanOutputKeys.D_REAL, GanOutputKeys.D_FAKE,
    )

    def __init__(
        self,
        device: torch.device | str,
        max_epochs: int,
        train_data_loader: Any,
        generator: torch.nn.Module,
        discriminator: torch.nn.Module,
        g_optimizer: Optimizer,
        d_optimizer: Optimizer,
        adversarial_loss: Callable | None = None,
        reconstruction_loss: Callable | None = None,
        lambda_reconstruction: float = 100.0,
        lambda_adversarial: float = 1.0,
        condition_key: str = Keys.CONDITION,
        target_key: str = Keys.TARGET,
        prepare_batch: Callable | None = None,
        amp: bool = False,
        amp_dtype: str | torch.dtype | None = None,
        channels_last: bool = False,
        epoch_length: int | None = None,
        non_blocking: bool = False,
        iteration_update: Callable | None = None,
        postprocessing: Callable | None = None,
        key_train_metric: dict | None = None,
        additional_metrics: dict | None = None,
        train_handlers: Sequence | None = None,
        event_names: list | None = None,
        event_to_attr: dict | None = None,
        decollate: bool = False,
        optim_set_to_none: bool = True,
        to_kwargs: dict | None = None,
        batch_transform: Callable | None = None,
        generator_output_transform: Callable | None = None,
        reconstruction_weight_fn: Callable | None = None,
        discriminator_targets_fn: Callable | None = None,
        discriminator_pair: str = DiscriminatorPair.CONDITION_IMAGE,
        update_order: str = UpdateOrder.D_FIRST,
    ) -> None:
        super().__init__(
            device=device,
            max_epochs=max_epochs,
            data_loader=train_data_loader,
            epoch_length=epoch_length,
            non_blocking=non_blocking,
            prepare_batch=prepare_condition_target(condition_key, target_key) if prepare_batch is None else prepare_batch,
            iteration_update=iteration_update,
            postprocessing=postprocessing,
            key_metric=key_train_metric,
            additional_metrics=additional_metrics,
            handlers=train_handlers,
            amp=False,  # MONAI's amp is CUDA-only; ours is below
            event_names=event_names,
            event_to_attr=event_to_attr,
            decollate=decollate,
            to_kwargs=to_kwargs,
        )
        self.amp = bool(amp)
        self.amp_dtype = amp_dtype
        self.channels_last = bool(channels_last)
        if self.channels_last:
            network_to_channels_last(generator, 2)
            network_to_channels_last(discriminator, 2)
        self.generator = generator
        self.discriminator = discriminator
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.adversarial_loss = AdversarialLoss("vanilla") if adversarial_loss is None else adversarial_loss
        self.reconstruction_loss = torch.nn.L1Loss() if reconstruction_loss is None else reconstruction_loss
        self.lambda_reconstruction = float(lambda_reconstruction)
        self.lambda_adversarial = float(lambda_adversarial)
        self.optim_set_to_none = optim_set_to_none
        self.batch_transform = batch_transform
        self.generator_output_transform = generator_output_transform
        self.reconstruction_weight_fn = reconstruction_weight_fn
        self.discriminator_targets_fn = discriminator_targets_fn
        self.discriminator_pair = _choice(DiscriminatorPair, discriminator_pair, "discriminator_pair")
        self.update_order = _choice(UpdateOrder, update_order, "update_order")
        self._elementwise_reconstruction: Callable | None = None
        if reconstruction_weight_fn is not None:
            if not hasattr(self.reconstruction_loss, "reduction"):
                raise ValueError("reconstruction_weight_fn needs a reconstruction_loss with a `reduction` attribute.")
            self._elementwise_reconstruction = copy.copy(self.reconstruction_loss)
            self._elementwise_reconstruction.reduction = "none"
        self.g_scaler = grad_scaler(self.state.device, self.amp, amp_dtype)
        self.d_scaler = grad_scaler(self.state.device, self.amp, amp_dtype)

    def run(self) -> None:  # type: ignore[override]
        """Run training; unlike ``Trainer.run`` no CUDA-only GradScaler is created (ours are per network)."""
        Workflow.run(self)

    def _autocast(self):
        return autocast(self.state.device, self.amp, self.amp_dtype)

    def _reconstruction(self, fake: torch.Tensor, target: torch.Tensor, extras: dict) -> torch.Tensor:
        fake, target = fake.float(), target.float()
        if self.reconstruction_weight_fn is None:
            return self.reconstruction_loss(fake, target)
        weight = torch.as_tensor(self.reconstruction_weight_fn(extras), device=fake.device, dtype=fake.dtype)
        elementwise = self._elementwise_reconstruction(fake, target)
        weight = weight.reshape(*weight.shape, *([1] * (elementwise.ndim - weight.ndim))).expand_as(elementwise)
        return (elementwise * weight).sum() / weight.sum().clamp_min(1e-8)

    def _fake_targets(self, d_fake_logits: torch.Tensor, extras: dict) -> tuple[Any, Any]:
        if self.discriminator_targets_fn is None:
            return False, True
        targets = self.discriminator_targets_fn(d_fake_logits, extras)
        if isinstance(targets, tuple):
            return targets
        return targets, True

    @staticmethod
    def _set_requires_grad(net: torch.nn.Module, flag: bool) -> None:
        for p in net.parameters():
            p.requires_grad_(flag)

    def _pair(self, image: torch.Tensor, condition: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The discriminator's input for ``image`` (the real target or a generator output)."""
        if self.discriminator_pair == DiscriminatorPair.CONDITION_IMAGE:
            return torch.cat([condition, image], 1)
        return torch.cat([image, target], 1)

    def _generate(self, condition: torch.Tensor, target: torch.Tensor, extras: dict) -> torch.Tensor:
        with self._autocast():
            fake = self.generator(condition)
            if self.generator_output_transform is not None:
                fake = self.generator_output_transform(fake, condition, target, extras)
        return fake

    def _d_step(self, condition: torch.Tensor, target: torch.Tensor, fake: torch.Tensor, extras: dict) -> tuple:
        """One discriminator step on the detached ``fake``; returns (d_loss, d_real, d_fake)."""
        disc = self.discriminator
        self._set_requires_grad(disc, True)
        self.d_optimizer.zero_grad(set_to_none=self.optim_set_to_none)
        with self._autocast():
            # fake pair first, then real pair (the reference's order, which BN statistics see)
            d_fake_logits = disc(self._pair(fake.detach(), condition, target))
            d_fake = self.adversarial_loss(d_fake_logits, self._fake_targets(d_fake_logits, extras)[0],
                                           for_discriminator=True)
            d_real = self.adversarial_loss(disc(self._pair(target, condition, target)), True, for_discriminator=True)
            d_loss = 0.5 * (d_fake + d_real)
        self.d_scaler.scale(d_loss).backward()
        self.d_scaler.step(self.d_optimizer)
        self.d_scaler.update()
        return d_loss, d_real, d_fake

    def _g_step(self, condition: torch.Tensor, target: torch.Tensor, fake: torch.Tensor, extras: dict) -> torch.Tensor:
        """One generator step with the discriminator frozen; returns g_loss."""
        disc = self.discriminator
        self._set_requires_grad(disc, False)
        self.g_optimizer.zero_grad(set_to_none=self.optim_set_to_none)
        with self._autocast():
            logits = disc(self._pair(fake, condition, target))
            g_adv = self.adversarial_loss(logits, self._fake_targets(logits, extras)[1], for_discriminator=False)
            g_rec = self._reconstruction(fake, target, extras)
            g_loss = self.lambda_adversarial * g_adv + self.lambda_reconstruction * g_rec
        self.state.output.update({GanOutputKeys.G_ADV: g_adv.detach(), GanOutputKeys.G_REC: g_rec.detach()})
        self.fire_event(IterationEvents.LOSS_COMPLETED)
        self.g_scaler.scale(g_loss).backward()
        self.fire_event(IterationEvents.BACKWARD_COMPLETED)
        self.g_scaler.step(self.g_optimizer)
        self.g_scaler.update()
        self._set_requires_grad(disc, True)
        return g_loss

    def prepare_step(self, batchdata: Any) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """(condition, target, extras) of a batch on the device, as a step takes them (``prepare_batch``, the batch
        transform, channels-last), the networks in training mode."""
        if batchdata is None:
            raise ValueError("must provide batch data for current iteration.")
        batch = self.prepare_batch(batchdata, self.state.device, self.non_blocking, **self.to_kwargs)
        condition, target = plain_tensor(batch[0]), plain_tensor(batch[1])  # a training step needs no metadata
        extras: dict = {}
        if self.batch_transform is not None:
            condition, target, extras = self.batch_transform(condition, target, self)
        if self.channels_last:
            condition, target = to_channels_last(condition), to_channels_last(target)
        self.generator.train()
        self.discriminator.train()
        return condition, target, extras

    def _iteration(self, engine: ConditionalGanTrainer, batchdata: Any) -> dict[str, Any]:
        condition, target, extras = engine.prepare_step(batchdata)

        fake = engine._generate(condition, target, extras)
        engine.state.output = {Keys.CONDITION: condition.detach(), Keys.TARGET: target, Keys.PRED: fake.detach()}
        engine.fire_event(IterationEvents.FORWARD_COMPLETED)
        if engine.update_order == UpdateOrder.D_FIRST:
            d_loss, d_real, d_fake = engine._d_step(condition, target, fake, extras)
            g_loss = engine._g_step(condition, target, fake, extras)
        else:
            g_loss = engine._g_step(condition, target, fake, extras)
            with torch.no_grad():  # the reference runs the updated generator again for D
                refreshed = engine._generate(condition, target, extras)
            d_loss, d_real, d_fake = engine._d_step(condition, target, refreshed, extras)

        engine.state.output.update(
            {
                Keys.TARGET: target.detach(),
                GanOutputKeys.LOSS: g_loss.detach(),
                GanOutputKeys.G_LOSS: g_loss.detach(),
                GanOutputKeys.D_LOSS: d_loss.detach(),
                GanOutputKeys.D_REAL: d_real.detach(),
                GanOutputKeys.D_FAKE: d_fake.detach(),
            }
        )
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output


def _choice(enum: type[StrEnum], value: str, name: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        raise ValueError(f"{name} must be one of {[e.value for e in enum]}, got {value!r}.") from None


def _linear_decay(epoch: int, n_epochs: int, n_epochs_decay: int) -> float:
    return 1.0 - max(0, epoch + 1 - n_epochs) / float(n_epochs_decay + 1)


def linear_decay_lambda(n_epochs: int = 100, n_epochs_decay: int = 100) -> Callable[[int], float]:
    """pix2pix's "linear" LR rule for ``LambdaLR`` stepped once per epoch (after it).

    Epoch ``e`` (1-based, as Ignite counts) trains at ``lr * (1 - max(0, e - n_epochs) / (n_epochs_decay + 1))``:
    the full rate for epochs 1..n_epochs, then linearly down, ``1 / (n_epochs_decay + 1)`` of it in the last epoch
    ``n_epochs + n_epochs_decay`` and 0 one epoch later, exactly as the reference's ``lambda_rule``.
    """
    return functools.partial(_linear_decay, n_epochs=int(n_epochs), n_epochs_decay=int(n_epochs_decay))
