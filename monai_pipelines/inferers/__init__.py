
from monai_pipelines import lazy_submodules

from .dihedral_tta_inferer import DihedralTTAInferer, dihedral_transforms
from .glacier_predictor import NormalizedNetwork, load_fold_members, predict_geotiffs
from .intensity_lookup import IntensityLookup
from .missing_sequence_inferer import MissingSequenceInferer
from .slice_inferer import ResizedSliceInferer
from .whole_volume_inferer import WholeVolumeInferer

__getattr__ = lazy_submodules(__name__)
