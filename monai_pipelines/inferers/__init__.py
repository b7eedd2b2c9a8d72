
from .intensity_lookup import IntensityLookup
