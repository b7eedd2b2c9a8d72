
from .folds import assign_folds, split_subjects
from .manifest import build_manifest, datalist, ensure_manifest, load_manifest, select_fold, validate_manifest
from .manifest import write_manifest
