"""Every bundle's metadata.json meets the MONAI meta schema version it names, and uses that version's keys.

The required-key lists are those of MONAI's published schemas (MONAI-extra-test-data release 0.8.1, mirrored at
project-monai.github.io/schema/): ``meta_schema_20220729.json`` and ``meta_schema_20240725.json``. The 2024 schema
renamed ``optional_packages_version`` to ``required_packages_version`` (MONAI PR #7409) and describes every network
input/output tensor with the keys in ``TENSOR_REQUIRED``. Checked offline: MONAI's ``verify_metadata`` downloads them.
"""

from __future__ import annotations

import json
import numbers
from pathlib import Path

import pytest

BUNDLES = Path(__file__).resolve().parents[1] / "bundles"
SCHEMA_URL = "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/0.8.1/meta_schema_{}.json"
TOP_REQUIRED = {
    "20220729": [
        "schema", "version", "monai_version", "pytorch_version", "numpy_version", "optional_packages_version",
        "task", "description", "authors", "copyright", "network_data_format",
    ],
    "20240725": [
        "schema", "version", "monai_version", "pytorch_version", "numpy_version", "required_packages_version",
        "task", "description", "authors", "copyright", "network_data_format",
    ],
}
# keys one version has and the other renamed: naming one schema while using the other's key is the defect to catch
FOREIGN_KEYS = {"20220729": {"required_packages_version"}, "20240725": {"optional_packages_version"}}
TENSOR_REQUIRED = ["type", "format", "num_channels", "spatial_shape", "dtype", "value_range"]

METADATA = sorted(BUNDLES.glob("*/configs/metadata.json"))


def _schema_version(meta: dict) -> str:
    for version in TOP_REQUIRED:
        if meta.get("schema") == SCHEMA_URL.format(version):
            return version
    raise AssertionError(f"schema {meta.get('schema')!r} is none of the known versions {sorted(TOP_REQUIRED)}")


def test_every_bundle_has_metadata():
    assert len(METADATA) == 5


@pytest.mark.parametrize("path", METADATA, ids=lambda p: p.parents[1].name)
def test_metadata_meets_its_schema_version(path):
    meta = json.loads(path.read_text())
    version = _schema_version(meta)
    missing = [key for key in TOP_REQUIRED[version] if key not in meta]
    assert not missing, f"{path}: meta_schema_{version} requires {missing}"
    assert not FOREIGN_KEYS[version] & meta.keys(), f"{path} uses keys of another schema version"
    assert meta["version"] in meta["changelog"], "the current version needs a changelog entry"
    fmt = meta["network_data_format"]
    assert fmt["inputs"] and fmt["outputs"]
    for name, tensor in [*fmt["inputs"].items(), *fmt["outputs"].items()]:
        missing = [key for key in TENSOR_REQUIRED if key not in tensor]
        assert not missing, f"{path}: tensor {name!r} lacks {missing}"
        assert all(isinstance(v, numbers.Number) for v in tensor["value_range"])
        assert all(isinstance(s, (int, str)) for s in tensor["spatial_shape"])


@pytest.mark.parametrize("path", METADATA, ids=lambda p: p.parents[1].name)
def test_eval_metrics_are_measured_numbers(path):
    metrics = json.loads(path.read_text())["eval_metrics"]

    def numbers_in(value):
        if isinstance(value, dict):
            return [n for v in value.values() for n in numbers_in(v)]
        return [value] if isinstance(value, numbers.Number) else []

    assert len(numbers_in(metrics)) >= 3
    assert not any(isinstance(v, str) and v.startswith("see ") for v in metrics.values())

