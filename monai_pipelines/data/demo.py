"""Where a bundle's data are: built-in demo datasets (generated on first use into the cache), or a dataset folder.

A bundle run with no ``dataset_dir`` calls :func:`resolve_dataset` with its demo name; the generator
writes images and a manifest into ``cache_dir("demo", name)`` (atomically: a temporary folder renamed
into place), so an interrupted generation is never mistaken for a complete one. A dataset folder in a known
layout (``LAYOUT_BUILDERS``) without a manifest gets one on first use, with seeded folds, saved next to the data
(as ``monai-pipelines manifest build <layout>`` writes it) and reused by every later run.
"""

from __future__ import annotations

import importlib
import inspect
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

# dataset layout -> "module:function" that builds its manifest from the folder: f(dataset_dir, k=, seed=) -> dict
LAYOUT_BUILDERS: dict[str, str] = {
    "paired": "monai_pipelines.data.paired_volumes:build_paired_manifest",
    "brats": "monai_pipelines.data.brats:build_brats_manifest",
    "hkh": "monai_pipelines.data.hkh:build_hkh_manifest",
}
LAYOUT_FOLDS = 5
LAYOUT_SEED = 0


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


def resolve_dataset(
    dataset_dir: str | None,
    manifest: str | None,
    demo: str | None = None,
    layout: str | None = None,
    skip_corrupted: bool = False,
) -> DatasetLocation:
    """The data a bundle uses: the demo set when ``dataset_dir`` is None, else ``dataset_dir`` + ``manifest``.

    ``manifest`` may be a path, a file name under the repository's ``data_manifests/``, or None for
    ``<dataset_dir>/manifest.json``, which is built from the folder's ``layout`` (a ``LAYOUT_BUILDERS`` key) on
    first use when it does not exist (``skip_corrupted`` goes to builders that take it).
    """
    if dataset_dir is None:
        if demo is None:
            raise InputError("no dataset_dir given and this bundle has no demo dataset.")
        location = ensure_demo_dataset(demo)
        return location if manifest is None else DatasetLocation(location.dataset_dir, _find_manifest(manifest))
    if not Path(dataset_dir).is_dir():
        raise FileNotFoundError(f"{dataset_dir}: dataset_dir is not a folder.")
    if manifest is None:
        default = Path(dataset_dir) / MANIFEST_NAME
        if layout is not None and not default.is_file():
            build_layout_manifest(layout, dataset_dir, default, skip_corrupted)
        return DatasetLocation(str(dataset_dir), _find_manifest(str(default)))
    return DatasetLocation(str(dataset_dir), _find_manifest(manifest))


def build_layout_manifest(layout: str, dataset_dir: str | Path, path: str | Path, skip_corrupted: bool = False) -> dict:
    """Build the manifest of ``dataset_dir`` from its ``layout`` with seeded folds, save it to ``path`` unless a
    manifest is there already (then that one is kept), log what was done, and return the manifest."""
    from monai_pipelines.data.manifest import ensure_manifest
    from monai_pipelines.data.manifest_cli import summary_line

    if layout not in LAYOUT_BUILDERS:
        raise InputError(f"unknown dataset layout {layout!r}; known: {', '.join(sorted(LAYOUT_BUILDERS))}.")
    module_name, func_name = LAYOUT_BUILDERS[layout].split(":")
    builder = getattr(importlib.import_module(module_name), func_name)
    kwargs: dict = {"k": LAYOUT_FOLDS, "seed": LAYOUT_SEED}
    if skip_corrupted and "skip_corrupted" in inspect.signature(builder).parameters:
        kwargs["skip_corrupted"] = True
    command = f"monai-pipelines manifest build {layout} {dataset_dir}"
    try:
        manifest = ensure_manifest(path, lambda: builder(dataset_dir, **kwargs))
    except PermissionError:
        raise InputError(f"{dataset_dir}: no {MANIFEST_NAME}, and none can be written there; build one with "
                         f"`{command} --out FILE` and give it as --manifest FILE.") from None
    except (ValueError, FileNotFoundError) as e:
        raise InputError(f"{dataset_dir}: no {MANIFEST_NAME}, and the {layout} layout gave none: {e}; build one with "
                         f"`{command}` (see --help: --folds, --seed) and run again.") from None
    logger.info(f"{dataset_dir} had no {MANIFEST_NAME}: built one from its {layout} layout with seeded folds "
                f"({LAYOUT_FOLDS} folds, seed {LAYOUT_SEED}; {summary_line(manifest).removeprefix('ok: ')}) and saved "
                f"it as {path}; every later run uses these folds (`{command} --force` draws new ones)")
    return manifest


def _find_manifest(manifest: str) -> str:
    for candidate in (Path(manifest), repo_root() / "data_manifests" / manifest):
        if candidate.is_file():
            return str(candidate)
    raise FileNotFoundError(f"{manifest}: manifest not found (also looked in data_manifests/).")
