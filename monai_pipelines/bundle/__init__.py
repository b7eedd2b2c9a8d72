"""Run wiring shared by every bundle: one RunContext per command, the standard training handlers, the run contract."""

from monai_pipelines import lazy_submodules

from .booleans import parse_bool
from .locations import bundle_root, run_dir, run_folder
from .run_context import RunContext, default_device
from .run_contract import RunContract
from .speed_defaults import (
    default_amp,
    default_channels_last,
    default_fused_optimizer,
    default_num_threads,
    default_num_workers,
    set_num_threads,
)
from .training_handlers import TrainingHandlers

__all__ = [
    "RunContext", "RunContract", "TrainingHandlers", "bundle_root", "default_amp", "default_channels_last",
    "default_device", "default_fused_optimizer",
    "default_num_threads", "default_num_workers", "parse_bool", "run_dir", "run_folder", "set_num_threads",
]

__getattr__ = lazy_submodules(__name__)
