from .enums import Keys, Split
from .paths import bundle_root, cache_dir, repo_root

__all__ = ["Keys", "Split", "bundle_root", "cache_dir", "repo_root"]
