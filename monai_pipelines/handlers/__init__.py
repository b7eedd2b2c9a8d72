
from monai_pipelines import lazy_submodules

from .classification_report_writer import ClassificationReportWriter
from .curriculum_scenarios import CurriculumScenarios
from .deferred_reweighting import DeferredReweighting, class_counts, drw_weights
from .early_stopping import EarlyStopping
from .engine_progress_bar import EngineProgressBar
from .finite_loss import FiniteLossGuard, TrainingDivergedError
from .image_frequency import epoch_images, every_n_images, images_seen
from .loss_log_writer import LossLogWriter
from .loss_weight_ramp import LossWeightRamp
from .rng_state import RNGState
from .segmentation_epoch_log import SegmentationEpochLog
from .slice_png_writer import SlicePngWriter, write_slice_pngs
from .slice_report_writer import SliceReportWriter
from .synthesis_metrics_writer import SynthesisMetricsWriter
from .synthesis_panel_writer import SynthesisPanelWriter, plot_synthesis_panel
from .tensorboard_panel import TensorBoardPanel, panel_image
from .time_budget import TimeBudget
from .training_checkpoint import TrainingCheckpoint, latest_checkpoint, load_checkpoint, read_checkpoint
from .training_history import TrainingHistory
from .training_image_writer import TrainingImageWriter, image_row

__getattr__ = lazy_submodules(__name__)
