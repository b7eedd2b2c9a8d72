from monai_pipelines import lazy_submodules

from .dist import is_main_process
from .enums import Keys, Split
from .paths import bundle_root, cache_dir, repo_root
from .progress import show_progress
from .run_config import save_run_config

__all__ = ["Keys", "Split", "bundle_root", "cache_dir", "is_main_process", "repo_root", "save_run_config",
           "show_progress"]

__getattr__ = lazy_submodules(__name__)
