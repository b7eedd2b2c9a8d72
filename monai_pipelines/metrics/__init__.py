
from .hu_metrics import hu_metrics, ssim_map
