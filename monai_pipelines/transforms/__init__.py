
from monai_pipelines import lazy_submodules

from .band_normalize import BandNormalize, BandNormalized
from .body_mask import (
    BodyMask,
    BodyMaskD,
    BodyMaskd,
    BodyMaskDict,
    ct_body_mask,
    fill_holes_per_slice,
    largest_component,
)
from .glcm_texture import GLCMTexture, GLCMTextured, glcm_features
from .hu_window import (  # noqa: E501
    HUWindow,
    HUWindowD,
    HUWindowd,
    HUWindowDict,
    HUWindowInverse,
    HUWindowInverseD,
    HUWindowInversed,
    HUWindowInverseDict,
    hu_to_window,
    window_to_hu,
)
from .n4_bias_field import (  # noqa: E501
    N4BiasFieldCorrection,
    N4BiasFieldCorrectionD,
    N4BiasFieldCorrectiond,
    N4BiasFieldCorrectionDict,
    n4_bias_field_correction,
)
from .rand_dihedral import RandDihedral, RandDihedralD, RandDihedrald, RandDihedralDict, apply_symmetry  # noqa: E501
from .rigid_registration import (  # noqa: E501
    RegistrationResult,
    RegistrationSettings,
    RigidRegistration,
    RigidRegistrationD,
    RigidRegistrationd,
    RigidRegistrationDict,
    resample_to_grid,
    rigid_register,
)
from .robust_load import (  # noqa: E501
    CorruptedImageError,
    RobustLoadImage,
    RobustLoadImageD,
    RobustLoadImaged,
    RobustLoadImageDict,
    check_image,
    filter_loadable,
)
from .scenario_mask import ALL_SCENARIOS, Scenario, ScenarioMask, ScenarioMaskd, apply_scenario, implicit_conditioning
from .signed_distance import SignedDistanceMaps, SignedDistanceMapsD, SignedDistanceMapsd, SignedDistanceMapsDict
from .torch_registration import resample_to_grid_torch, rigid_register_torch  # noqa: E501

__getattr__ = lazy_submodules(__name__)
