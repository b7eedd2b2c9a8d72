"""Dictionary keys and names shared across transforms, datasets, engines and bundles."""

from monai.utils.enums import StrEnum


class Keys(StrEnum):
    """Keys of data dictionaries (datalist items and batches)."""

    IMAGE = "image"
    LABEL = "label"
    MASK = "mask"
    PRED = "pred"
    SUBJECT = "subject"
    FOLD = "fold"
    CONDITION = "condition"
    TARGET = "target"


class Split(StrEnum):
    """Names of the datalist sections of a manifest."""

    TRAINING = "training"
    VALIDATION = "validation"
    TEST = "test"
