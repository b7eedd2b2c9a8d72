"""utils.atomic_write: a killed or failing writer leaves the old file or the new one, never part of one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from monai_pipelines.utils import atomic_write
from monai_pipelines.utils.atomic_write import (
    atomic_copy,
    atomic_path,
    atomic_save,
    is_temporary,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)

OLD = b"old complete file\n"

# writes 64 MiB through atomic_path in 1 MiB chunks, announcing the first chunk, then sleeping between chunks
_WRITER = """
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("atomic_write", sys.argv[2])  # the module alone: a fast start
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
atomic_path = module.atomic_path
with atomic_path(sys.argv[1]) as tmp, open(tmp, "wb") as f:
    for i in range(64):
        f.write(b"n" * (1 << 20))
        f.flush()
        if i == 0:
            print("writing", flush=True)
        time.sleep(0.05)
"""


def test_sigkilled_writer_leaves_the_old_file(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_bytes(OLD)
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(target), atomic_write.__file__], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"writing"
    temporaries = [p for p in tmp_path.iterdir() if is_temporary(p)]
    assert temporaries and temporaries[0].stat().st_size > 0  # mid-write: the data go to the temporary name
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert target.read_bytes() == OLD


def test_completed_writer_leaves_the_whole_new_file(tmp_path):
    target = tmp_path / "big.bin"
    target.write_bytes(OLD)
    subprocess.run([sys.executable, "-c", _WRITER.replace("0.05", "0"), str(target), atomic_write.__file__],
                   check=True, stdout=subprocess.DEVNULL)
    assert target.stat().st_size == 64 << 20
    assert not [p for p in tmp_path.iterdir() if is_temporary(p)]


def test_error_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "table.csv"
    target.write_bytes(OLD)
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")
    assert target.read_bytes() == OLD
    assert os.listdir(tmp_path) == ["table.csv"]


def test_temporary_name_sits_beside_the_target(tmp_path):
    with atomic_path(tmp_path / "sub" / "plot.png") as tmp:
        assert tmp.parent == tmp_path / "sub"
        assert tmp.name == f".plot.png.{os.getpid()}.png.tmp" and is_temporary(tmp)
        tmp.write_bytes(b"png")
    assert not is_temporary(tmp_path / "sub" / "plot.png")


def test_helpers_round_trip(tmp_path):
    assert write_text_atomic(tmp_path / "a.txt", "text").read_text() == "text"
    assert write_bytes_atomic(tmp_path / "b.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    assert json.loads(write_json_atomic(tmp_path / "c.json", {"x": [1, 2]}).read_text()) == {"x": [1, 2]}
    assert atomic_copy(tmp_path / "b.bin", tmp_path / "d.bin").read_bytes() == b"\x00\x01"
    path = atomic_save({"w": torch.arange(3)}, tmp_path / "e.pt")
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.arange(3))
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.bin", "c.json", "d.bin", "e.pt"]


def test_stale_temporaries_of_killed_writers_are_removed(tmp_path):
    import time

    from monai_pipelines.utils.atomic_write import remove_stale_temporaries

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / "checkpoints" / f".latest.pt.{dead_pid}.pt.tmp"
    live = tmp_path / "metrics" / f".metrics.json.{os.getpid()}.json.tmp"
    fresh = tmp_path / f".fresh.json.{dead_pid}.json.tmp"
    for path in (stale, live, fresh):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    for path in (stale, live):
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and fresh.exists()  # a live writer's, and a too recent one, stay
