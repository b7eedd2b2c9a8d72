"""Phase 1 of the MM-GAN study: IXI T1/T2/PD volumes -> registered (optionally N4-corrected) 3-channel axial slices.

Per subject (``IXI###-Site-####-{T1,T2,PD}.nii.gz``): T1 is rigidly registered onto the T2 grid (ITK, mutual
information; T2 and PD come from one dual-echo acquisition and share it, PD is only resampled if its grid differs),
optionally N4-corrected inside a head (or given brain) mask, normalised per sequence to [0, 1] by the 99.5th
percentile inside the mask, cut into axial slices with enough foreground, turned anterior-up, padded square and
resized (:func:`cut_slices`, which inference uses too), and saved as ``{split}/{subject}_{slice:03d}.npy`` of shape
(3, size, size), channels T1, T2, PD; the manifest records this slicing (``slicing``). Subjects are split into
train/val/test (seeded, by subject) and listed in ``manifest.json`` (``val`` holds fold 0 of the pool).
Finished subjects are recorded in ``.done/`` and skipped when the command runs again.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import multiprocessing as mp
import os
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch
from monai.transforms import Resize, SpatialPad
from scipy import ndimage

from monai_pipelines.data.folds import assign_folds, split_subjects
from monai_pipelines.data.manifest import build_manifest, validate_manifest, write_manifest
from monai_pipelines.transforms.body_mask import fill_holes_per_slice, largest_component
from monai_pipelines.transforms.n4_bias_field import otsu_threshold
from monai_pipelines.utils.atomic_write import atomic_path, write_json_atomic
from monai_pipelines.utils.errors import InputError

__all__ = [
    "IXI_SEQUENCES",
    "IXIPrepareReport",
    "build_ixi_slice_manifest",
    "checked_registration_kwargs",
    "cut_slices",
    "find_ixi_subjects",
    "from_ras",
    "head_mask",
    "normalise_percentile",
    "prepare_ixi",
    "prepared_slicing",
    "register_subject",
    "slice_size",
    "slice_volume",
    "slicing_record",
    "to_ras",
    "uncut_slices",
]

logger = logging.getLogger("monai_pipelines")

IXI_SEQUENCES: tuple[str, ...] = ("T1", "T2", "PD")
REFERENCE = "T2"
SPLIT_DIRS = {"training": "train", "validation": "val", "test": "test"}
_IXI_FILE = re.compile(r"^(?P<subject>IXI\d+-[A-Za-z]+-\d+)-(?P<seq>T1|T2|PD)\.nii(\.gz)?$")
_IXI_SLICE = re.compile(r"^(?P<subject>IXI\d+-[A-Za-z]+-\d+)_(?P<z>\d+)\.npy$")
_DONE = ".done"
_RAS = nib.orientations.axcodes2ornt("RAS")
#: Phase 1's slicing: axial slices of the RAS volume, turned a quarter (anterior up), normalised by the 99.5th pct.
SLICE_AXIS = 2
SLICE_ROTATION = 1
PERCENTILE = 99.5


@dataclass
class IXIPrepareReport:
    """What one ``prepare_ixi`` call did."""

    prepared: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    incomplete: dict[str, list[str]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # unusable subjects (skip_corrupted): the reason
    slices: int = 0
    manifest: str = ""


def find_ixi_subjects(raw_dir: str | os.PathLike) -> tuple[dict[str, dict[str, Path]], dict[str, list[str]]]:
    """Subjects with all three sequences ``{subject: {"T1": path, ...}}``, and the others with what they lack."""
    raw = Path(raw_dir)
    if not raw.is_dir():
        raise FileNotFoundError(f"{raw}: IXI raw folder not found.")
    found: dict[str, dict[str, Path]] = {}
    for path in sorted(raw.iterdir()):
        match = _IXI_FILE.match(path.name)
        if match:
            found.setdefault(match["subject"], {})[match["seq"]] = path
    if not found:
        raise FileNotFoundError(f"{raw}: no IXI volumes named IXI###-Site-####-{{T1,T2,PD}}.nii.gz.")
    complete = {s: f for s, f in found.items() if set(f) == set(IXI_SEQUENCES)}
    incomplete = {s: [q for q in IXI_SEQUENCES if q not in f] for s, f in found.items() if s not in complete}
    return complete, incomplete


def head_mask(image: np.ndarray) -> np.ndarray:
    """Foreground mask of an MR volume: Otsu threshold, largest component, holes filled (per axial slice too)."""
    data = np.nan_to_num(np.asarray(image, dtype=np.float32))
    positive = data[data > 0]
    if positive.size == 0:
        raise InputError("the image is empty (no positive voxel), no foreground mask can be drawn.")
    mask = largest_component(data > otsu_threshold(positive) * 0.5)
    mask = ndimage.binary_fill_holes(ndimage.binary_closing(mask, iterations=2))
    return fill_holes_per_slice(mask, slice_axis=2)


def normalise_percentile(image: np.ndarray, mask: np.ndarray, percentile: float = PERCENTILE) -> np.ndarray:
    """Scale to [0, 1]: 0 stays 0, the ``percentile`` inside ``mask`` maps to 1, values above are clipped."""
    inside = image[mask > 0]
    if inside.size == 0:
        raise InputError("the foreground mask is empty, the image cannot be normalised.")
    top = float(np.percentile(inside, percentile))
    if top <= 0:
        raise InputError("the image has no positive intensity inside the foreground mask.")
    return np.clip(image / top, 0.0, 1.0).astype(np.float32)


def _load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        img = nib.load(str(path))
        data = np.asarray(img.get_fdata(dtype=np.float32))
    except Exception as e:  # nibabel raises many kinds
        raise InputError(f"{path}: cannot be read as NIfTI ({e}).") from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputError(f"{path}: expected a 3D volume, got shape {data.shape}.")
    if not np.isfinite(data).all():
        raise InputError(f"{path}: contains NaN or Inf values.")
    return data, img.affine


def _brainmask_path(path: Path) -> Path | None:
    candidate = path.with_name(path.name.replace(".nii", "-brainmask.nii"))
    return candidate if candidate.is_file() else None


def checked_registration_kwargs(kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """`kwargs` as a dict for :func:`rigid_register`, or an InputError naming the unknown setting or backend."""
    from monai_pipelines.transforms.rigid_registration import check_registration_kwargs

    kwargs = dict(kwargs or {})
    try:
        check_registration_kwargs(kwargs)
    except ValueError as e:
        raise InputError(f"registration_kwargs {kwargs}: {e}") from None
    return kwargs


def register_subject(
    files: Mapping[str, Path],
    reference: str = REFERENCE,
    n4: bool = False,
    n4_shrink_factor: int = 4,
    n4_iterations: Sequence[int] = (50, 50, 30),
    registration_kwargs: Mapping[str, Any] | None = None,
    info: dict[str, Any] | None = None,
    register: bool = True,
    device: str | torch.device = "cpu",
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """All sequences of one subject on the ``reference`` grid, optionally N4-corrected.

    Other sequences are rigidly registered onto the reference by mutual information, except a sequence on the
    reference grid already (IXI's PD shares T2's dual-echo acquisition). The mask is the reference's
    ``-brainmask`` file when present, else :func:`head_mask` of the reference. ``info``, when given, receives
    each registered sequence's metric before/after (Mattes MI, lower is better) and rotation. ``register=False``
    takes the inputs as co-registered: every sequence must then be on the reference grid. ``device`` is where the torch
    registration computes (``registration_kwargs``' own ``device`` wins).

    Returns:
        (images on the reference grid, reference affine, foreground mask)
    """
    from monai_pipelines.transforms.n4_bias_field import n4_bias_field_correction
    from monai_pipelines.transforms.rigid_registration import rigid_register

    registration_kwargs = checked_registration_kwargs(registration_kwargs)
    fixed, fixed_affine = _load(files[reference])
    mask_file = _brainmask_path(files[reference])
    try:
        mask = (_load(mask_file)[0] > 0) if mask_file is not None else head_mask(fixed)
    except InputError as e:
        raise InputError(f"{files[reference]}: {e}") from None
    if mask.shape != fixed.shape:
        raise InputError(f"{mask_file}: mask shape {mask.shape} differs from its image {fixed.shape}.")
    spacing = tuple(float(s) for s in np.sqrt((fixed_affine[:3, :3] ** 2).sum(0)))
    images = {reference: fixed}
    for seq, path in files.items():
        if seq == reference:
            continue
        moving, moving_affine = _load(path)
        same_grid = moving.shape == fixed.shape and np.allclose(moving_affine, fixed_affine, atol=1e-3)
        if same_grid and (seq != "T1" or not register):
            images[seq] = moving
            continue
        if not register:
            raise InputError(
                f"{path}: not on the grid of {files[reference]} (shape {moving.shape} vs {fixed.shape} or another "
                "affine); co-register the inputs first or enable registration."
            )
        try:
            settings = {"device": device, **registration_kwargs}
            result = rigid_register(moving, fixed, moving_affine, fixed_affine, **settings)
        except ValueError as e:
            raise InputError(f"{path} onto {files[reference].name}: {e}") from None
        images[seq] = np.asarray(result.resampled, dtype=np.float32)
        if info is not None:
            info[seq] = {"initial_metric": result.initial_metric, "final_metric": result.final_metric,
                         "rotation_degrees": result.rotation_degrees}
    if n4:
        for seq in images:
            corrected = n4_bias_field_correction(
                images[seq], mask, spacing=spacing, shrink_factor=n4_shrink_factor, iterations=list(n4_iterations)
            )
            images[seq] = np.asarray(corrected, dtype=np.float32)
    return images, fixed_affine, mask


def to_ras(volume: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Reorient a 3D array to RAS, so that the last axis is inferior -> superior (axial slices along it)."""
    ornt = nib.orientations.io_orientation(affine)
    return nib.orientations.apply_orientation(volume, nib.orientations.ornt_transform(ornt, _RAS))


def from_ras(volume: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_ras`: a RAS array back onto the axes of the volume with ``affine``."""
    ornt = nib.orientations.io_orientation(affine)
    return nib.orientations.apply_orientation(volume, nib.orientations.ornt_transform(_RAS, ornt))


def cut_slices(
    channels: np.ndarray,
    size: int,
    axis: int = SLICE_AXIS,
    rotation: int = SLICE_ROTATION,
    indices: Sequence[int] | None = None,
) -> np.ndarray:
    """The network's slices of a (C, X, Y, Z) RAS volume in [0, 1]: Phase 1 and inference both cut with this.

    Each slice along spatial ``axis`` is turned ``rotation`` quarter turns (``np.rot90``; 1: anterior up and right
    on the viewer's left, as radiological viewers show axial slices), zero-padded square (symmetric) and resized to
    ``size`` (bilinear, anti-aliased), then clipped to [0, 1].

    Returns:
        (N, C, size, size) float32 for ``indices`` (default: every slice).
    """
    n = channels.shape[axis + 1]
    indices = range(n) if indices is None else indices
    planes = [np.rot90(np.take(channels, int(z), axis=axis + 1), k=rotation, axes=(1, 2)) for z in indices]
    if not planes:
        return np.zeros((0, channels.shape[0], size, size), np.float32)
    side = max(planes[0].shape[1:])
    pad, resize = SpatialPad((side, side)), Resize((size, size), mode="bilinear", anti_aliasing=True)
    out = [np.asarray(resize(pad(torch.from_numpy(np.ascontiguousarray(p)))), dtype=np.float32) for p in planes]
    return np.stack(out).clip(0, 1)


def uncut_slices(
    slices: torch.Tensor, shape: Sequence[int], axis: int = SLICE_AXIS, rotation: int = SLICE_ROTATION
) -> torch.Tensor:
    """Inverse of :func:`cut_slices` for every slice: (N, C, S, S) -> (C, X, Y, Z) on the RAS grid of ``shape``.

    Resized back to the padded side (bilinear), the padding cropped, the rotation undone, stacked along ``axis``.
    """
    in_plane = [int(s) for i, s in enumerate(shape) if i != axis]
    turned = in_plane[::-1] if rotation % 2 else in_plane
    side = max(in_plane)
    x = slices
    if tuple(x.shape[-2:]) != (side, side):
        x = torch.nn.functional.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)
    before = [(side - s) // 2 for s in turned]  # MONAI SpatialPad "symmetric": the smaller half first
    x = x[:, :, before[0] : before[0] + turned[0], before[1] : before[1] + turned[1]]
    x = torch.rot90(x, k=-rotation, dims=(2, 3))
    return torch.stack(list(x), dim=axis + 1)


def slice_volume(
    channels: np.ndarray,
    mask: np.ndarray,
    size: int = 256,
    min_foreground: float = 0.05,
    axis: int = SLICE_AXIS,
    rotation: int = SLICE_ROTATION,
) -> tuple[np.ndarray, list[int]]:
    """Phase 1's slices of a (C, X, Y, Z) RAS volume: those with at least ``min_foreground`` mask area, cut by
    :func:`cut_slices`.

    Returns:
        (slices (N, C, size, size) float32, their indices along ``axis``)
    """
    area = np.moveaxis(mask, axis, -1).reshape(-1, mask.shape[axis]).mean(0)
    keep = [int(z) for z in np.flatnonzero(area >= min_foreground)]
    return cut_slices(channels, size, axis, rotation, keep), keep


def slicing_record(size: int, n4: bool = False, percentile: float = PERCENTILE) -> dict[str, Any]:
    """How Phase 1 turned volumes into slices (written to the manifest; a trained MM-GAN's input contract)."""
    return {"orientation": "RAS", "axis": SLICE_AXIS, "rotation": SLICE_ROTATION, "size": int(size),
            "percentile": float(percentile), "n4": bool(n4)}


def prepared_slicing(manifest: str | os.PathLike, datalist: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The slicing record of a prepared dataset: the manifest's ``slicing`` entry (Phase 1 writes it), else Phase 1's
    defaults with the size of the first slice (slices written by hand)."""
    record = json.loads(Path(manifest).read_text()).get("slicing")
    size = slice_size(datalist)
    if record is None:
        return slicing_record(size)
    if int(record["size"]) != size:
        raise InputError(f"{manifest}: records {record['size']}-pixel slices but {datalist[0]['image']} is {size}.")
    return dict(record)


def _assign_splits(subjects: list[str], seed: int, test_fraction: float, folds: int) -> dict[str, str]:
    pool, test = split_subjects(subjects, test_fraction, seed)
    fold_of = assign_folds(pool, folds, seed) if pool else {}
    split = dict.fromkeys(test, "test")
    split.update({s: "val" if f == 0 else "train" for s, f in fold_of.items()})
    return split


def prepare_ixi(
    raw_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    n4: bool = False,
    size: int = 256,
    seed: int = 42,
    test_fraction: float = 0.15,
    folds: int = 5,
    min_foreground: float = 0.05,
    n4_shrink_factor: int = 4,
    n4_iterations: Sequence[int] = (50, 50, 30),
    registration_kwargs: Mapping[str, Any] | None = None,
    progress: bool | None = None,
    name: str | None = None,
    workers: int = 1,
    shard: tuple[int, int] | None = None,
    manifest_only: bool = False,
    skip_corrupted: bool = False,
) -> IXIPrepareReport:
    """Run Phase 1 on an IXI download folder; see the module docstring. Returns what was done.

    Subjects lacking a sequence are logged (one line each) and left out. ``out_dir`` must not be ``raw_dir``.
    ``progress``: a progress bar per subject (None: on a terminal, see :func:`~monai_pipelines.utils.show_progress`).

    Args:
        workers: subjects prepared at once, each in its own process (1: in this process).
        shard: ``(k, n)`` with ``1 <= k <= n``: prepare only every n-th subject from the k-th (sorted), so n jobs
            fill one output folder with disjoint subjects; no manifest is written (run ``manifest_only`` after).
        manifest_only: prepare nothing; write the manifest from the finished subjects (all must be finished).
        skip_corrupted: leave out (log and count) a subject with an unusable volume; otherwise the first one ends
            the call in one line before anything is written (every volume to prepare is read and checked first).
    """
    from tqdm.auto import tqdm

    from monai_pipelines.utils.progress import show_progress

    raw, out = Path(raw_dir), Path(out_dir)
    if out.resolve() == raw.resolve():
        raise InputError(f"{out}: the output folder must differ from the raw IXI folder.")
    registration_kwargs = checked_registration_kwargs(registration_kwargs)  # before any subject, not once per subject
    if shard is not None and not (shard[1] >= 1 and 1 <= shard[0] <= shard[1]):
        raise InputError(f"shard must be k/n with 1 <= k <= n, got {shard[0]}/{shard[1]}.")
    complete, incomplete = find_ixi_subjects(raw)
    for subject, missing in incomplete.items():
        logger.warning(f"{subject}: missing {', '.join(missing)} in {raw}; subject left out.")
    if not complete:
        raise InputError(f"{raw}: no subject has all of T1, T2 and PD; nothing to prepare.")
    subjects = sorted(complete)
    split = _assign_splits(subjects, seed, test_fraction, folds)  # over all subjects, so every shard agrees
    mine = subjects if shard is None else subjects[shard[0] - 1 :: shard[1]]
    report = IXIPrepareReport(incomplete=incomplete)
    done_dir = out / _DONE
    options = {"n4": n4, "size": size, "min_foreground": min_foreground}
    records: dict[str, dict] = {}
    todo = []
    for subject in mine:
        record = _finished(done_dir / f"{subject}.json", options, split[subject])
        if record is not None:
            records[subject] = record
            report.reused.append(subject)
        else:
            todo.append(subject)
    todo = _usable_subjects(todo, complete, skip_corrupted, report)
    if manifest_only and todo:
        raise InputError(f"{out}: {len(todo)} subject(s) not prepared yet (e.g. {todo[0]}); run every shard first.")
    done_dir.mkdir(parents=True, exist_ok=True)
    job = functools.partial(
        _prepare_subject, out=out, options=options,
        kwargs={"n4": n4, "n4_shrink_factor": n4_shrink_factor, "n4_iterations": tuple(n4_iterations),
                "registration_kwargs": dict(registration_kwargs or {})},
    )
    tasks = [(subject, complete[subject], split[subject]) for subject in todo]
    bar = tqdm(total=len(tasks), desc="prepare ixi", unit="subject", disable=not show_progress(progress))
    if workers > 1 and len(tasks) > 1:
        # a fresh process's first use of ITK takes seconds to minutes (on a loaded machine): where processes can
        # fork, the first subject runs here, loading ITK once, and the forked workers inherit it
        context = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        if context.get_start_method() == "fork":
            _keep(records, report, tasks[0][0], functools.partial(job, *tasks.pop(0)), skip_corrupted)
            bar.update()
        with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=context, initializer=_single_threaded) as pool:
            futures = {pool.submit(job, *task): task[0] for task in tasks}
            for future in as_completed(futures):
                _keep(records, report, futures[future], future.result, skip_corrupted)
                bar.update()
    else:
        for task in tasks:
            _keep(records, report, task[0], functools.partial(job, *task), skip_corrupted)
            bar.update()
    bar.close()
    report.prepared = [subject for subject in todo if subject not in report.skipped]
    report.slices = sum(len(r["slices"]) for r in records.values())
    if shard is None:
        report.manifest = str(_write_ixi_manifest(out, records, split, seed, folds, n4, name, slicing_record(size, n4)))
    return report


def _keep(records: dict[str, dict], report: IXIPrepareReport, subject: str, result: Callable[[], dict],
          skip_corrupted: bool) -> None:
    """The record of a prepared subject; one whose volumes cannot be prepared (registration fails, no foreground)
    ends the command, or with ``skip_corrupted`` is logged and recorded as skipped."""
    try:
        records[subject] = result()
    except InputError as e:
        if not skip_corrupted:
            raise InputError(f"subject {subject}: {e} (pass --skip-corrupted to skip unusable subjects)") from None
        report.skipped[subject] = str(e)
        logger.warning("skipping subject %s: %s", subject, e)


def _usable_subjects(subjects: list[str], files: Mapping[str, Mapping[str, Path]], skip_corrupted: bool,
                     report: IXIPrepareReport) -> list[str]:
    """``subjects`` whose T1, T2 and PD all load and pass the image checks, read before anything is written; an
    unusable one ends the command in one line, or with ``skip_corrupted`` is logged and recorded in ``report``."""
    if not subjects:
        return []
    from monai_pipelines.data.screening import check_inputs

    items = [{"subject": s, **{q: str(files[s][q]) for q in IXI_SEQUENCES}} for s in subjects]
    good, skipped = check_inputs(items, IXI_SEQUENCES, skip_corrupted, allow_missing_keys=False,
                                 skip_option="--skip-corrupted")
    report.skipped.update({item["subject"]: reason for item, reason in skipped})
    return [item["subject"] for item in good]


def _finished(marker: Path, options: dict, split: str) -> dict | None:
    """The record of a subject finished with these options and split, else None."""
    if not marker.is_file():
        return None
    record = json.loads(marker.read_text())
    return record if record.get("options") == options and record.get("split") == split else None


def _single_threaded() -> None:
    """Worker processes compute on one thread each, so N workers do not fight over the cores."""
    torch.set_num_threads(1)
    with contextlib.suppress(Exception):
        import itk

        itk.MultiThreaderBase.SetGlobalDefaultNumberOfThreads(1)


def _prepare_subject(subject: str, files: Mapping[str, Path], split: str, out: Path, options: dict,
                     kwargs: dict) -> dict:
    """Register, normalise and slice one subject into ``out/split``; its record, written last (atomically)."""
    info: dict[str, Any] = {}
    images, affine, mask = register_subject(files, info=info, **kwargs)
    normalised = []
    for seq in IXI_SEQUENCES:
        try:
            normalised.append(to_ras(normalise_percentile(images[seq], mask), affine))
        except InputError as e:
            raise InputError(f"{files[seq]}: {e}") from None
    stacked = np.stack(normalised)
    slices, zs = slice_volume(stacked, to_ras(mask.astype(np.float32), affine), options["size"],
                              options["min_foreground"])
    files_out = []
    for sl, z in zip(slices, zs):
        rel = f"{split}/{subject}_{z:03d}.npy"
        with atomic_path(out / rel) as tmp, open(tmp, "wb") as f:  # np.save would add ".npy" to a name
            np.save(f, sl)
        files_out.append([rel, z])
    record = {"options": options, "split": split, "slices": files_out, "registration": info}
    write_json_atomic(out / _DONE / f"{subject}.json", record, indent=None)
    return record


def _ixi_manifest(records: dict[str, dict], split: dict[str, str], seed: int, folds: int, n4: bool,
                  name: str | None) -> dict:
    items = [
        {"image": rel, "subject": subject, "slice": int(z)}
        for subject in sorted(records)
        for rel, z in records[subject]["slices"]
    ]
    if not items:
        raise InputError("no slice passed the foreground threshold; nothing to list in a manifest.")
    test = sorted({it["subject"] for it in items if split[it["subject"]] == "test"})
    return build_manifest(
        name or ("ixi_slices_n4" if n4 else "ixi_slices"),
        items,
        k=folds,
        seed=seed,
        test_subjects=test,
        description="IXI T1/T2/PD axial slices (3, H, W) in [0, 1], T1 registered to T2"
        + (", N4-corrected" if n4 else ""),
        modality={"0": "T1", "1": "T2", "2": "PD"},
        path_keys=["image"],
    )


def _folder_mismatch(manifest: Mapping) -> str | None:
    """The first item whose split folder disagrees with its manifest section, or None."""
    for section, folder in SPLIT_DIRS.items():
        for it in manifest[section]:
            if not it["image"].startswith(folder + "/"):
                return it["image"]
    return None


def _write_ixi_manifest(
    out: Path, records: dict[str, dict], split: dict[str, str], seed: int, folds: int, n4: bool, name: str | None,
    slicing: dict[str, Any] | None = None,
) -> Path:
    try:
        manifest = _ixi_manifest(records, split, seed, folds, n4, name)
    except ValueError as e:
        raise InputError(f"{out}: {e}") from None
    if _folder_mismatch(manifest):  # subjects left out (no slice, unusable) changed the folds: keep the folders
        manifest = _folders_as_folds(manifest, split, seed, folds, out)
    if slicing is not None:
        manifest["slicing"] = slicing
    return write_manifest(manifest, out / "manifest.json")


def build_ixi_slice_manifest(
    prepared_dir: str | os.PathLike, folds: int = 5, seed: int = 42, name: str | None = None
) -> dict:
    """The manifest of a folder ``prepare_ixi`` wrote (``{train,val,test}/IXI..._zzz.npy``), read from its files.

    The split folders are kept: ``test/`` is the test split and ``val/`` fold 0. With the ``seed`` and ``folds`` that
    ``prepare_ixi`` used this is the manifest it wrote; otherwise ``train/`` subjects are dealt over folds 1..k-1
    with ``seed`` (logged).
    """
    root = Path(prepared_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: prepared IXI folder not found.")
    records: dict[str, dict] = {}
    split: dict[str, str] = {}
    for folder in SPLIT_DIRS.values():
        for path in sorted((root / folder).glob("IXI*_*.npy")):
            m = _IXI_SLICE.match(path.name)
            if m is None:
                continue
            if split.setdefault(m["subject"], folder) != folder:
                raise InputError(f"{root}: subject {m['subject']} has slices in both {split[m['subject']]}/ and "
                                 f"{folder}/.")
            records.setdefault(m["subject"], {"slices": []})["slices"].append([f"{folder}/{path.name}", int(m["z"])])
    if not records:
        if any(_IXI_FILE.match(p.name) for p in root.iterdir()):
            raise InputError(f"{root}: holds raw IXI volumes, and the bundle reads prepared slices; run "
                             "`monai-pipelines prepare ixi --raw DIR --out DIR`, which writes the manifest too.")
        raise FileNotFoundError(f"{root}: no prepared IXI slices ({{train,val,test}}/IXI###-Site-####_zzz.npy).")
    n4 = any(json.loads(p.read_text()).get("options", {}).get("n4", False) for p in (root / _DONE).glob("*.json"))
    manifest = _ixi_manifest(records, split, seed, folds, n4, name)
    if _folder_mismatch(manifest) is None:
        return manifest
    logger.info(f"{root}: val/ is not fold 0 of seed {seed} with {folds} folds (prepare_ixi used others); val/ is "
                f"kept as fold 0 and the train/ subjects are dealt over folds 1..{folds - 1}.")
    return _folders_as_folds(manifest, split, seed, folds, root)


def _folders_as_folds(manifest: dict, split: Mapping[str, str], seed: int, folds: int, root: Path) -> dict:
    """``manifest`` with the split folders kept: val/ is fold 0, the train/ subjects are dealt over folds 1..k-1."""
    train = sorted(s for s, f in split.items() if f == "train" and any(
        it["subject"] == s for it in manifest["training"] + manifest["validation"]))
    if folds > 2 and len(train) >= folds - 1:
        fold_of = {s: f + 1 for s, f in assign_folds(train, folds - 1, seed).items()}
    else:
        fold_of = dict.fromkeys(train, 1)
    pool = manifest["training"] + manifest["validation"]
    manifest["training"], manifest["validation"] = [], []
    for item in pool:
        item["fold"] = fold_of.get(item["subject"], 0)
        manifest["validation" if item["fold"] == 0 else "training"].append(item)
    problems = validate_manifest(manifest)
    if problems:
        raise InputError(f"{root}: {problems[0]}")
    return manifest


def slice_size(datalist: Sequence[Mapping[str, Any]], key: str = "image") -> int:
    """Side of the square slices of a prepared datalist (read from its first ``.npy`` without loading it)."""
    if not datalist:
        raise InputError("the datalist is empty; no slice size can be read.")
    path = datalist[0][key]
    shape = np.load(path, mmap_mode="r").shape
    if len(shape) != 3 or shape[1] != shape[2]:
        raise InputError(f"{path}: expected a (C, N, N) slice, got shape {shape}.")
    return int(shape[1])
