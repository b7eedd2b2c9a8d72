
from monai_pipelines import lazy_submodules

from .brats import build_brats_manifest, ensure_brats_manifest, scan_brats
from .demo import resolve_dataset
from .folds import assign_folds, split_subjects
from .geotiff import LoadGeoTIFFd, read_geotiff, save_overlay_png, write_mask_geotiff
from .hkh import HKH_BANDS, build_hkh_manifest
from .image_files import image_datalist
from .manifest import (
    build_manifest,
    datalist,
    ensure_manifest,
    load_manifest,
    select_fold,
    validate_manifest,
    write_manifest,
)
from .paired_volumes import build_paired_manifest, paired_items
from .patch_dataset import BalancedPatchDataset
from .pixel_balanced_sampler import GLACIER_TARGETS, PixelBalancedSampler, crop_window, save_sampler_report
from .screening import screen_datalist
from .slice_dataset import VolumeSliceDataset
from .subject_selection import parse_subjects, select_subjects

__getattr__ = lazy_submodules(__name__)
