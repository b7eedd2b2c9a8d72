"""A distributed run leaves its process group, and frees what holds it, while the interpreter is still whole.

A rank of the two-rank training test aborted at exit after finishing its run ("terminate called without an active
exception", 1 in 16-40 runs): DDP modules kept alive by the engines' reference cycles held the gloo process group
until the interpreter's finalisation.
"""

from __future__ import annotations

import atexit
import gc
import socket
import weakref
from types import SimpleNamespace

import torch
import torch.distributed as dist

from monai_pipelines.bundle import run_context
from monai_pipelines.bundle.run_context import RunContext


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_process_group_is_released_at_exit(monkeypatch):
    registered = []
    monkeypatch.setattr(atexit, "register", registered.append)
    for key, value in {"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(_free_port())}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    try:
        RunContext._init_distributed(SimpleNamespace(device=torch.device("cpu")))
        assert dist.is_initialized() and registered == [run_context._release_distributed]
        gc.disable()  # the cycle below stays until the handler collects it
        engine = SimpleNamespace(network=torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(2, 2)))
        engine.handlers = [engine]  # a reference cycle, as an engine and its bound handlers make
        held = weakref.ref(engine.network)
        del engine
        assert held() is not None
        registered[0]()  # what the interpreter runs at exit
        assert not dist.is_initialized() and held() is None
    finally:
        gc.enable()
        if dist.is_initialized():
            dist.destroy_process_group()
