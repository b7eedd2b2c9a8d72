
from monai_pipelines import lazy_submodules

from .adversarial_loss import AdversarialLoss
from .boundary_loss import BoundaryLoss, signed_distance_maps
from .combined_loss import CombinedSegmentationLoss
from .ldam_loss import LDAMLoss, ldam_margins
from .mcc_loss import MCCLoss, mcc_from_confusion

__getattr__ = lazy_submodules(__name__)
