
from .intensity_lookup import IntensityLookup
from .dihedral_tta_inferer import DihedralTTAInferer, dihedral_transforms
from .glacier_predictor import NormalizedNetwork, load_fold_members, predict_geotiffs
from .slice_inferer import ResizedSliceInferer
from .missing_sequence_inferer import MissingSequenceInferer
