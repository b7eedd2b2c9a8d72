"""CPU bf16 training: what keeping tiny convolutions in fp32 costs, per bundle network, and where oneDNN is wrong.

oneDNN's bf16 weight gradients are wrong for convolutions whose input is tiny along some axis
(``monai_pipelines.engines.tiny_convolutions``), so the bundles' CPU bf16 autocast runs those in fp32. Per bundle
network (built from its train.json, with overrides), a training step's forward and backward (loss = mean squared
output) under plain ``torch.autocast`` (bf16 throughout) and under the bundles' ``cpu_bf16_autocast``, alternated
in one process on one network, medians after a warm-up (no optimiser step: bf16 throughout would make wrong, even
non-finite, weights, whose arithmetic slows everything after it down, 150x measured); then each convolution the
bundles keep in fp32, checked in bf16 against fp32 (the largest weight-gradient error relative to its largest
value: a right bf16 kernel gives < 0.01).

    python benchmarks/bench_tiny_convolutions.py [--bundle glacier_segmentation --size 64 --batch 32 --set k=v ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from monai.bundle import ConfigParser

from monai_pipelines.engines.amp import cpu_bf16_autocast, network_spatial_dims
from monai_pipelines.engines.tiny_convolutions import TINY_SPATIAL_SIZE, tiny_input

sys.path.insert(0, str(Path(__file__).parent))
from _common import alternate, native_bf16, table, timed_steps  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def bundle_network(bundle: str, overrides: dict) -> torch.nn.Module:
    parser = ConfigParser()
    parser.read_config(str(ROOT / "bundles" / bundle / "configs" / "train.json"))
    parser.update(overrides)
    torch.manual_seed(0)
    return parser.get_parsed_content("network_def", instantiate=True).train()


def tiny_convolutions(network: torch.nn.Module, x: torch.Tensor) -> list[tuple[torch.nn.Module, torch.Tensor]]:
    """(convolution, its input) of every convolution the bundles keep in fp32 for input ``x``."""
    found, hooks = [], []
    for module in network.modules():
        if isinstance(module, torch.nn.modules.conv._ConvNd):
            hooks.append(module.register_forward_hook(lambda m, args, out: found.append((m, args[0].detach()))
                                                      if tiny_input(args[0]) else None))
    with torch.no_grad():
        network(x)
    for hook in hooks:
        hook.remove()
    return found


def bf16_weight_gradient_error(conv: torch.nn.Module, x: torch.Tensor) -> float:
    """Largest error of the bf16 weight gradient of ``conv`` on ``x`` (plain autocast) vs fp32, relative."""
    grads = []
    for context in (torch.autocast("cpu", dtype=torch.bfloat16), contextlib.nullcontext()):
        weight = conv.weight.detach().clone().requires_grad_()
        with context:
            y = torch.func.functional_call(conv, {"weight": weight}, (x,))
        y.float().backward(torch.linspace(-1, 1, y.numel()).reshape(y.shape))
        grads.append(weight.grad)
    return ((grads[0] - grads[1]).abs().nan_to_num(float("inf")).max() / grads[1].abs().max()).item()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default="glacier_segmentation")
    parser.add_argument("--size", type=int, default=64, help="spatial side of the input")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--set", nargs="*", default=[], metavar="ID=JSON", help="train.json overrides")
    parser.add_argument("--iterations", type=int, default=3, help="timed steps per run")
    parser.add_argument("--repeats", type=int, default=4, help="alternated runs per variant")
    parser.add_argument("--no-bf16", dest="bf16", action="store_false", help="measure nothing (run_all's option)")
    args = parser.parse_args(argv)
    if not args.bf16 or not native_bf16():
        print("not measured: " + ("--no-bf16" if not args.bf16 else "this CPU has no native bf16, so the bundles "
                                  "train in fp32 here and keep no convolution in fp32 for bf16's sake") + ".")
        return
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    network = bundle_network(args.bundle, overrides)
    dims = network_spatial_dims(network)
    first = next(m for m in network.modules() if isinstance(m, torch.nn.modules.conv._ConvNd))
    x = torch.randn(args.batch, first.in_channels, *(args.size,) * dims, generator=torch.Generator().manual_seed(0))

    def training_step(context: Callable) -> Callable[[], None]:
        def step() -> None:
            network.zero_grad(set_to_none=True)
            with context():
                out = network(x)
                loss = (out[0] if isinstance(out, (tuple, list)) else out).float().square().mean()
            loss.backward()

        step()  # warm-up
        return step

    variants = {"bf16 throughout (torch.autocast)": lambda: torch.autocast("cpu", dtype=torch.bfloat16),
                "tiny convolutions in fp32 (the bundles')": cpu_bf16_autocast}
    steps = {name: training_step(context) for name, context in variants.items()}
    results = alternate({name: (lambda s=s: timed_steps(s, args.iterations)) for name, s in steps.items()},
                        args.repeats)
    base = next(iter(results.values()))[0]
    convolutions = sum(isinstance(m, torch.nn.modules.conv._ConvNd) for m in network.modules())
    tiny = tiny_convolutions(network, x)
    errors = [bf16_weight_gradient_error(conv, inp) for conv, inp in tiny]
    print(f"{args.bundle} network_def {overrides or ''}, input {tuple(x.shape)}, torch threads "
          f"{torch.get_num_threads()}; {len(tiny)} of {convolutions} convolution calls per forward have an input "
          f"tiny along some axis (kept fp32: 2D at most {TINY_SPATIAL_SIZE[2]}, 3D at most {TINY_SPATIAL_SIZE[3]})"
          + (f"; their bf16 weight gradients vs fp32: largest relative error {max(errors):.3g} (median "
             f"{sorted(errors)[len(errors) // 2]:.3g})" if errors else "") + ".\n")
    print(table(["variant", "s/iteration (median)", "ratio", "iterations"],
                [[name, f"{t:.4f}", f"{t / base:.3f}", n] for name, (t, _, n) in results.items()]))


if __name__ == "__main__":
    main()
