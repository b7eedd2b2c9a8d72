
from monai_pipelines import lazy_submodules

from .calibration import TemperatureScaling, expected_calibration_error, fit_temperature
from .classification_metrics import ClassificationMetrics, classification_report
from .classification_plots import (
    plot_confusion_matrix,
    plot_learning_curves,
    plot_loss_curve,
    plot_pr_curve,
    plot_roc_curve,
)
from .hu_metrics import hu_metrics, ssim_map
from .segmentation_metrics import GLACIER_CLASSES, SegmentationReport, confusion_matrix, segmentation_report
from .segmentation_plots import plot_per_class_iou, plot_segmentation_report
from .threshold_baseline import ndsi_baseline_report, write_comparison

__getattr__ = lazy_submodules(__name__)
