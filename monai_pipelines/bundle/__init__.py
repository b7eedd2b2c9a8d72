"""Run wiring shared by every bundle: one RunContext per command, the standard training handlers, the run contract."""

from monai_pipelines import lazy_submodules

from .booleans import parse_bool
from .locations import bundle_root, run_dir, run_folder
from .run_context import RunContext, default_device
from .run_contract import RunContract
from .training_handlers import TrainingHandlers

__all__ = ["RunContext", "RunContract", "TrainingHandlers", "bundle_root", "default_device", "parse_bool", "run_dir",
           "run_folder"]

__getattr__ = lazy_submodules(__name__)
