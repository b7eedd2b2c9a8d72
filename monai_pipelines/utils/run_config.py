"""Record what a run was: its settings, command line and versions, in ``<output_dir>/config/config.json``."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any

import monai
import numpy as np
import torch

import monai_pipelines
from monai_pipelines.utils.atomic_write import write_json_atomic
from monai_pipelines.utils.dist import is_main_process


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.generic, np.ndarray)) or (isinstance(value, torch.Tensor) and value.numel() <= 64):
        return _jsonable(value.tolist())  # numpy/torch numbers stay numbers, not their repr
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)  # json.dumps would write NaN/Infinity, which is not JSON
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def save_run_config(
    output_dir: str | os.PathLike, settings: dict[str, Any], name: str = "config.json", contract: dict | None = None
) -> Path:
    """Write the resolved settings, the run contract, the command line and library versions; returns the file path
    (rank 0 writes)."""
    path = Path(output_dir) / "config" / name
    if not is_main_process():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "settings": _jsonable(settings),
        **({"contract": _jsonable(contract)} if contract is not None else {}),
        "command": sys.argv,
        "versions": {
            "monai_pipelines": monai_pipelines.__version__,
            "monai": monai.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
    }
    return write_json_atomic(path, record)
