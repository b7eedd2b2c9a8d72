
from .classification_report_writer import ClassificationReportWriter
from .curriculum_scenarios import CurriculumScenarios
from .deferred_reweighting import DeferredReweighting, class_counts, drw_weights
from .early_stopping import EarlyStopping
from .engine_progress_bar import EngineProgressBar
from .loss_weight_ramp import LossWeightRamp
from .rng_state import RNGState
from .slice_report_writer import SliceReportWriter
from .synthesis_metrics_writer import SynthesisMetricsWriter
from .synthesis_panel_writer import SynthesisPanelWriter, plot_synthesis_panel
from .tensorboard_panel import TensorBoardPanel, panel_image
from .time_budget import TimeBudget
from .training_checkpoint import TrainingCheckpoint, latest_checkpoint, load_checkpoint, read_checkpoint
from .training_history import TrainingHistory
