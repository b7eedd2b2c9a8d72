
from .scenario_mask import ALL_SCENARIOS, Scenario, ScenarioMask, ScenarioMaskd, apply_scenario, implicit_conditioning
from .band_normalize import BandNormalize, BandNormalized
from .glcm_texture import GLCMTexture, GLCMTextured, glcm_features
from .hu_window import HUWindow, HUWindowd, HUWindowD, HUWindowDict, HUWindowInverse, HUWindowInversed, HUWindowInverseD, HUWindowInverseDict, hu_to_window, window_to_hu  # noqa: E501
from .robust_load import CorruptedImageError, RobustLoadImage, RobustLoadImaged, RobustLoadImageD, RobustLoadImageDict, check_image, filter_loadable  # noqa: E501
from .n4_bias_field_correction import N4BiasFieldCorrection, N4BiasFieldCorrectiond, N4BiasFieldCorrectionD, N4BiasFieldCorrectionDict, n4_bias_field_correction  # noqa: E501
from .rigid_registration import RegistrationResult, RigidRegistration, RigidRegistrationd, RigidRegistrationD, RigidRegistrationDict, resample_to_grid, rigid_register  # noqa: E501
