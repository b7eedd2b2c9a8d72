
from .scenario_mask import ALL_SCENARIOS, Scenario, ScenarioMask, ScenarioMaskd, apply_scenario, implicit_conditioning
from .band_normalize import BandNormalize, BandNormalized
from .glcm_texture import GLCMTexture, GLCMTextured, glcm_features
