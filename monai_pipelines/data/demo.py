"""Built-in demo datasets: generated deterministically on first use into the cache, then reused.

A bundle run with no ``dataset_dir`` calls :func:`resolve_dataset` with its demo name; the generator
writes images and a manifest into ``cache_dir("demo", name)`` (atomically: a temporary folder renamed
into place), so an interrupted generation is never mistaken for a complete one.
"""

from __future__ import annotations

import importlib
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from monai_pipelines.utils.errors import InputError
from monai_pipelines.utils.paths import cache_dir, repo_root

logger = logging.getLogger("monai_pipelines")

MANIFEST_NAME = "manifest.json"

# demo name -> "module:function"; the function takes the output folder and writes the files and MANIFEST_NAME.
DEMO_DATASETS: dict[str, str] = {
    "head_mri_ct": "monai_pipelines.data.synthetic.head_dataset:generate_head_mri_ct",
    "ixi_phantom_baseline": "monai_pipelines.data.synthetic.ixi_phantom:generate_ixi_phantom_baseline",
    "ixi_phantom_n4": "monai_pipelines.data.synthetic.ixi_phantom:generate_ixi_phantom_n4",
    "thorax_phases": "monai_pipelines.data.synthetic.thorax_phantom:generate_thorax_phases",
    "glioma": "monai_pipelines.data.synthetic.glioma_phantom:generate_glioma",
    "glacier_tiles": "monai_pipelines.data.synthetic.glacier_tiles:generate_glacier_tiles",
}

# bump a demo's version when its generator's output changes, so caches made by older code are not reused
DEMO_VERSIONS: dict[str, int] = {
    "glioma": 2,  # v2: 160 subjects (40 were too few for a 5-fold CNN to learn)
    "head_mri_ct": 2,  # v2: 6 folds, so fold 0 is the source document's 42 / 9 / 9 split (5 folds gave 40 / 11 / 9)
    "thorax_phases": 2,  # v2: 48 subjects (42 train, 6 test), 3 HU per-phase noise (10 HU at 6 x 6 x 8 mm was unrealistic)
}


def demo_folder_name(name: str) -> str:
    """Cache folder of a demo: its name, plus ``_v<N>`` from version 2 on."""
    version = DEMO_VERSIONS.get(name, 1)
    return name if version == 1 else f"{name}_v{version}"


@dataclass(frozen=True)
class DatasetLocation:
    """Where a bundle reads its data: the folder relative paths resolve against, and the manifest file."""

    dataset_dir: str
    manifest: str


def ensure_demo_dataset(name: str) -> DatasetLocation:
    """Generate demo dataset ``name`` into the cache unless already complete; return its location."""
    if name not in DEMO_DATASETS:
        raise InputError(f"unknown demo dataset {name!r}; known: {', '.join(sorted(DEMO_DATASETS))}.")
    target = cache_dir("demo") / demo_folder_name(name)
    if not (target / MANIFEST_NAME).is_file():
        module_name, func_name = DEMO_DATASETS[name].split(":")
        generate = getattr(importlib.import_module(module_name), func_name)
        logger.info(f"generating demo dataset {name!r} into {target} (first use only)")
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
        try:
            generate(tmp)
            if not (tmp / MANIFEST_NAME).is_file():
                raise RuntimeError(f"demo generator {DEMO_DATASETS[name]} wrote no {MANIFEST_NAME}.")
            if not (target / MANIFEST_NAME).is_file():  # else another process (e.g. a DDP rank) finished first
                if target.exists():  # an incomplete earlier attempt
                    shutil.rmtree(target)
                try:
                    tmp.rename(target)
                except OSError:  # lost the race to another process: keep its complete copy
                    if not (target / MANIFEST_NAME).is_file():
                        raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return DatasetLocation(str(target), str(target / MANIFEST_NAME))


def resolve_dataset(dataset_dir: str | None, manifest: str | None, demo: str | None = None) -> DatasetLocation:
    """The data a bundle uses: the demo set when ``dataset_dir`` is None, else ``dataset_dir`` + ``manifest``.

    ``manifest`` may be a path, a file name under the repository's ``data_manifests/``, or None for
    ``<dataset_dir>/manifest.json``.
    """
    if dataset_dir is None:
        if demo is None:
            raise InputError("no dataset_dir given and this bundle has no demo dataset.")
        location = ensure_demo_dataset(demo)
        return location if manifest is None else DatasetLocation(location.dataset_dir, _find_manifest(manifest))
    if not Path(dataset_dir).is_dir():
        raise FileNotFoundError(f"{dataset_dir}: dataset_dir is not a folder.")
    if manifest is None:
        return DatasetLocation(str(dataset_dir), _find_manifest(str(Path(dataset_dir) / MANIFEST_NAME)))
    return DatasetLocation(str(dataset_dir), _find_manifest(manifest))


def _find_manifest(manifest: str) -> str:
    for candidate in (Path(manifest), repo_root() / "data_manifests" / manifest):
        if candidate.is_file():
            return str(candidate)
    raise FileNotFoundError(f"{manifest}: manifest not found (also looked in data_manifests/).")
