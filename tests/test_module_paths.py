"""Every public name resolves by its full module path, as a bundle config's ``_target_`` is resolved.

MONAI resolves ``_target_`` with ``pydoc.locate``, which walks attributes: a module whose package ``__init__``
re-exports a function of the module's own name is shadowed by that function, and every path through it breaks.
"""

from __future__ import annotations

import importlib
import pkgutil
import pydoc

import pytest
from monai.bundle import ConfigParser

import monai_pipelines


def _public_names() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(monai_pipelines.__path__, "monai_pipelines."):
        module = importlib.import_module(info.name)
        names += [f"{info.name}.{name}" for name in getattr(module, "__all__", ())]
    return names


def test_every_public_name_resolves_by_module_path():
    names = _public_names()
    assert len(names) > 100
    unresolved = [path for path in names if pydoc.locate(path) is not getattr(
        importlib.import_module(path.rsplit(".", 1)[0]), path.rsplit(".", 1)[1])]
    assert unresolved == []


@pytest.mark.parametrize(
    ("target", "kwargs"),
    [
        ("monai_pipelines.transforms.n4_bias_field.N4BiasFieldCorrectiond", {"keys": ["image"]}),
        ("monai_pipelines.metrics.segmentation_metrics.SegmentationReport", {"num_classes": 2}),
        ("monai_pipelines.metrics.classification_metrics.ClassificationMetrics", {}),
    ],
)
def test_bundle_config_instantiates_by_module_path(target, kwargs):
    obj = ConfigParser({"x": {"_target_": target, **kwargs}}).get_parsed_content("x")
    assert type(obj).__name__ == target.rsplit(".", 1)[1]
