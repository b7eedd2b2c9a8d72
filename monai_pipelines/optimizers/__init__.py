from .optimizer_factory import OPTIMIZERS, build_optimizer
