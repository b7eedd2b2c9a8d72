
from monai_pipelines import lazy_submodules

from .conditional_gan_trainer import (
    ConditionalGanTrainer,
    DiscriminatorPair,
    GanOutputKeys,
    UpdateOrder,
    prepare_condition_target,
)
from .supervised_evaluator import SupervisedEvaluator
from .supervised_trainer import SupervisedTrainer

__getattr__ = lazy_submodules(__name__)
