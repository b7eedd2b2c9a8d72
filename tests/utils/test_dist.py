"""is_main_process: true alone and on rank 0 only; the run config and the text log are written once under DDP."""

from __future__ import annotations

import json
import logging

from monai_pipelines.handlers.classification_report_writer import close_file_logs, file_log_handler
from monai_pipelines.utils import is_main_process, save_run_config
from tests._ddp import run_on_ranks


def test_single_process_is_main():
    assert is_main_process()


def _write_on_rank(rank: int, out_dir: str) -> None:
    with open(f"{out_dir}/main_{rank}.json", "w") as f:
        json.dump(is_main_process(), f)
    save_run_config(f"{out_dir}/run", {"rank": rank})
    handler = file_log_handler(f"{out_dir}/run/logs/train.log")
    assert isinstance(handler, logging.FileHandler if rank == 0 else logging.NullHandler)
    close_file_logs()


def test_rank_zero_alone_writes(tmp_path):
    run_on_ranks(_write_on_rank, tmp_path, str(tmp_path))
    assert [json.loads((tmp_path / f"main_{r}.json").read_text()) for r in (0, 1)] == [True, False]
    assert json.loads((tmp_path / "run" / "config" / "config.json").read_text())["settings"] == {"rank": 0}
    assert (tmp_path / "run" / "logs" / "train.log").is_file()
