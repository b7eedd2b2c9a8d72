"""Deterministic synthetic head phantoms: tissue map, spin-echo T1/T2/PD MR and CT in HU, written as NIfTI.

Each seed gives a different head (random smooth shape, skull thickness, cortical folding, ventricle size). The
MR images follow the spin-echo signal equation with literature T1/T2/PD values, optionally with a smooth
multiplicative bias field, Rician noise and a small rigid misalignment of every sequence but the first, so that
N4 and registration have measurable work to do. The CT is *not* a per-voxel function of the T1 intensity: cortical
bone, air and CSF are all dark on T1 while spanning -1000..1500 HU, and fatty diploe is bright on T1 like scalp fat
yet ~700 HU, so a T1 -> CT network has to use spatial context.

Anatomy is defined in normalised coordinates (the smallest half field-of-view is 1), so a phantom fills any grid;
``spacing`` only sets the affine. Tissue map, masks and CT live in the frame of the first (reference) sequence.
"""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from monai_pipelines.data.synthetic.deformation import (
    apply_rigid_transform,
    random_rigid_transform,
    smooth_bias_field,
    smooth_random_fields,
)
from monai_pipelines.data.synthetic.mr_signal import SEQUENCE_PARAMS, add_rician_noise, spin_echo_signal
from monai_pipelines.data.synthetic.tissues import DIPLOE_PROPERTIES, TISSUE_PROPERTIES, Tissue, TissueProperties
from monai_pipelines.utils.atomic_write import write_bytes_atomic

__all__ = [
    "HeadPhantom",
    "make_head_phantom",
    "save_nifti",
    "write_head_subject",
    "spin_echo_signal",
    "SEQUENCE_PARAMS",
    "TISSUE_PROPERTIES",
    "DIPLOE_PROPERTIES",
    "Tissue",
    "TissueProperties",
]

MR_SCALE = 1000.0  # arbitrary scanner units: signal of a PD=1 tissue fully relaxed
MR_PARTIAL_VOLUME_SIGMA = 0.5  # voxels, Gaussian point-spread of the MR images
BRAIN_TISSUES = (Tissue.CSF, Tissue.GREY_MATTER, Tissue.WHITE_MATTER)

# Independent random streams, so e.g. the anatomy of a seed does not change when noise is switched on.
_STREAM_ANATOMY, _STREAM_TEXTURE, _STREAM_CT = 0, 1, 2
_STREAM_BIAS, _STREAM_MOTION, _STREAM_NOISE = 10, 11, 12


@dataclass
class HeadPhantom:
    """One synthetic subject: label map, images, masks, affine, and the artefacts applied to each MR image."""

    tissues: np.ndarray
    images: dict[str, np.ndarray]
    head_mask: np.ndarray
    brain_mask: np.ndarray
    affine: np.ndarray
    bias_fields: dict[str, np.ndarray]
    misalignment: dict[str, np.ndarray]


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, *stream])


def _centred_affine(shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> np.ndarray:
    """RAS affine (array axes = L->R, P->A, I->S) with the given spacing and world origin at the volume centre."""
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = -0.5 * (np.asarray(shape) - 1) * np.asarray(spacing)
    return affine


def _ellipsoid_depth(x: np.ndarray, y: np.ndarray, z: np.ndarray, axes: list[float]) -> np.ndarray:
    """Approximate signed distance below an ellipsoid surface (positive inside), first order in (1 - rho)."""
    qx, qy, qz = x / axes[0], y / axes[1], z / axes[2]
    rho = np.sqrt(qx * qx + qy * qy + qz * qz)
    grad = np.sqrt((qx / axes[0]) ** 2 + (qy / axes[1]) ** 2 + (qz / axes[2]) ** 2) / np.maximum(rho, 1e-6)
    return (1.0 - rho) / np.maximum(grad, 1e-6)


def _ridge(field: np.ndarray, width: float) -> np.ndarray:
    """1 on the zero-crossing surfaces of a random field, falling to 0 away: the sheets along which sulci run."""
    return np.exp(-((field / width) ** 2))


def _head_anatomy(seed: int, shape: tuple[int, int, int], spacing: tuple[float, float, float]):
    """Tissue label map (int8) and diploe fraction of the skull (float32), both random smooth shapes per seed."""
    rng = _rng(seed, _STREAM_ANATOMY)
    extent = np.asarray(shape) * np.asarray(spacing)
    unit = 0.5 * float(extent.min())  # normalised coordinates: smallest half field-of-view = 1
    axes_1d = [((np.arange(n) - 0.5 * (n - 1)) * s / unit).astype(np.float32) for n, s in zip(shape, spacing)]
    low = smooth_random_fields(rng, shape, 8, cutoff_cycles=1.2)
    folds = smooth_random_fields(rng, shape, 1, cutoff_cycles=1.2, band_centre_cycles=5.0)[0]
    mid = smooth_random_fields(rng, shape, 1, cutoff_cycles=2.5)[0]
    # Python floats, so that float32 arrays stay float32 (numpy scalars would promote them to float64)
    head_axes = [float(a) for a in np.array([0.70, 0.86, 0.80]) * (1.0 + rng.uniform(-0.05, 0.04, size=3))]
    centre = [float(c) for c in rng.uniform(-0.02, 0.02, size=3)]
    ventricle_scale = float(rng.uniform(0.7, 1.35))
    scalp_t, skull_t = float(rng.uniform(0.045, 0.065)), float(rng.uniform(0.055, 0.075))
    csf_t, gm_t = float(rng.uniform(0.025, 0.04)), float(rng.uniform(0.045, 0.06))
    sulcus_depth = float(rng.uniform(0.12, 0.18))

    # smooth random displacement of the coordinates: every structure deforms consistently
    x = axes_1d[0][:, None, None] - centre[0] + 0.03 * low[0]
    y = axes_1d[1][None, :, None] - centre[1] + 0.03 * low[1]
    z = axes_1d[2][None, None, :] - centre[2] + 0.03 * low[2]

    depth = _ellipsoid_depth(x, y, z, head_axes) + 0.02 * low[3]
    voxel = max(spacing) / unit  # keep the layers at least a voxel or two thick, so the skull is a closed shell
    scalp_thickness = np.maximum(scalp_t * (1.0 + 0.25 * low[4]), 1.2 * voxel)
    skull_thickness = np.maximum(skull_t * (1.0 + 0.3 * low[5]), 1.8 * voxel)
    csf_thickness = csf_t * np.clip(1.0 + 0.4 * low[6], 0.3, None)
    below_skull = depth - scalp_thickness - skull_thickness  # depth under the inner table

    tissues = np.zeros(shape, dtype=np.int8)
    tissues[depth > 0] = Tissue.SCALP
    tissues[depth > scalp_thickness] = Tissue.SKULL
    intracranial = below_skull > 0
    tissues[intracranial] = Tissue.CSF

    # cortex: a grey band whose outer and inner boundaries dip along the sulcal sheets of a band-pass field;
    # the CSF cleft of a sulcus is narrower than the white-matter indentation beneath it (two grey banks).
    # interhemispheric fissure above the arched corpus callosum, reaching deeper towards the poles
    above_callosum = z > 0.18 - 1.2 * y * y + 0.04 * low[7]
    fissure = (np.abs(x - 0.01 * mid) < 0.012) & above_callosum
    grey = intracranial & (below_skull > csf_thickness + sulcus_depth * _ridge(folds, 0.35)) & ~fissure
    tissues[grey] = Tissue.GREY_MATTER
    medial_bank = (np.abs(x) < 0.012 + gm_t) & above_callosum
    white = grey & (below_skull > csf_thickness + gm_t + sulcus_depth * _ridge(folds, 0.8)) & ~medial_bank
    tissues[white] = Tissue.WHITE_MATTER

    # deep grey nuclei (thalami / basal ganglia) and lateral ventricles (C-shaped, size varies with the subject)
    deep = white & (below_skull > 0.12)
    for side in (-1.0, 1.0):
        nucleus = ((x - side * 0.14) / 0.075) ** 2 + ((y + 0.05) / 0.12) ** 2 + ((z + 0.08) / 0.085) ** 2
        tissues[deep & (nucleus < 1.0 + 0.3 * mid)] = Tissue.GREY_MATTER
        vx = side * (0.09 - 0.05 * y) * ventricle_scale**0.5
        vz = 0.06 - 0.6 * y**2  # bodies arch over the thalami, horns curve down at both ends
        ventricle = ((x - vx) / (0.065 * ventricle_scale)) ** 2 + (y / 0.32) ** 2
        ventricle = ventricle + ((z - vz) / (0.075 * ventricle_scale)) ** 2
        tissues[deep & (ventricle < 1.0 + 0.4 * mid)] = Tissue.CSF

    # skull: cortical tables at both surfaces, fatty diploe in between, more of it where the skull is thick
    skull = tissues == Tissue.SKULL
    frac = np.clip((depth - scalp_thickness) / skull_thickness, 0.0, 1.0)
    diploe = np.sin(np.pi * frac) ** 2 * np.clip(0.7 + 0.3 * low[5] + 0.2 * mid, 0.2, 1.0)
    diploe = np.where(skull, diploe, 0.0).astype(np.float32)
    return tissues, diploe


def _tissue_lut(values: dict[Tissue, float]) -> np.ndarray:
    return np.array([values[t] for t in sorted(Tissue)], dtype=np.float32)


def _mr_signal(sequence: str, props: TissueProperties) -> float:
    tr_ms, te_ms = SEQUENCE_PARAMS[sequence]
    return float(spin_echo_signal(props.pd, props.t1_ms, props.t2_ms, tr_ms, te_ms)) * MR_SCALE


def _clean_mr(sequence: str, tissues: np.ndarray, diploe: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """Noise-free MR image: per-tissue spin-echo signal, skull mixing cortical bone and diploe, partial volume."""
    lut = _tissue_lut({t: _mr_signal(sequence, TISSUE_PROPERTIES[t]) for t in Tissue})
    image = lut[tissues]
    cortical = lut[Tissue.SKULL]
    image += diploe * (_mr_signal(sequence, DIPLOE_PROPERTIES) - cortical)
    image *= 1.0 + texture
    return ndimage.gaussian_filter(image, MR_PARTIAL_VOLUME_SIGMA, truncate=3.0)


def _ct(seed: int, tissues: np.ndarray, diploe: np.ndarray, texture: np.ndarray, noise_hu: float) -> np.ndarray:
    """CT in HU: per-tissue mean with a smooth spatial variation, skull 1500 (cortical) .. 700 (diploe), noise."""
    mean = _tissue_lut({t: TISSUE_PROPERTIES[t].ct_hu for t in Tissue})
    spread = _tissue_lut({t: TISSUE_PROPERTIES[t].ct_hu_spread for t in Tissue})
    skull = TISSUE_PROPERTIES[Tissue.SKULL]
    cortical_hu = float(skull.ct_hu + skull.ct_hu_spread)
    spread[Tissue.SKULL] = 0.0
    mean[Tissue.SKULL] = cortical_hu
    ct = mean[tissues] + spread[tissues] * texture
    ct += diploe * (DIPLOE_PROPERTIES.ct_hu - cortical_hu)
    if noise_hu > 0:
        ct += np.float32(noise_hu) * _rng(seed, _STREAM_CT).standard_normal(size=ct.shape, dtype=np.float32)
    return ct.astype(np.float32, copy=False)


def _check_options(seed, shape, spacing, sequences, bias_field, noise, misalignment, ct_noise_hu) -> None:
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    if len(shape) != 3 or min(shape) < 16:
        raise ValueError(f"shape must be three sizes of at least 16 voxels, got {tuple(shape)}.")
    if len(spacing) != 3 or min(spacing) <= 0:
        raise ValueError(f"spacing must be three positive values in mm, got {tuple(spacing)}.")
    unknown = [s for s in sequences if s not in SEQUENCE_PARAMS]
    if not sequences or unknown or len(set(sequences)) != len(sequences):
        raise ValueError(f"sequences must be distinct names from {sorted(SEQUENCE_PARAMS)}, got {tuple(sequences)}.")
    if not 0.0 <= bias_field < 2.0 or noise < 0 or ct_noise_hu < 0:
        raise ValueError(
            f"need 0 <= bias_field < 2, noise >= 0, ct_noise_hu >= 0; got {bias_field}, {noise}, {ct_noise_hu}."
        )
    if len(misalignment) != 2 or min(misalignment) < 0:
        raise ValueError(f"misalignment must be (max translation mm, max rotation deg) >= 0, got {misalignment}.")


def make_head_phantom(
    seed: int,
    shape: tuple[int, int, int] = (64, 64, 64),
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
    sequences: tuple[str, ...] = ("t1", "t2", "pd"),
    bias_field: float = 0.0,
    noise: float = 0.0,
    misalignment: tuple[float, float] = (0.0, 0.0),
    ct_noise_hu: float = 10.0,
) -> HeadPhantom:
    """Generate one subject deterministically from ``seed``.

    Args:
        bias_field: peak-to-peak strength of the smooth multiplicative field on each MR image (0.3 -> ~0.85..1.15).
        noise: Rician noise sigma as a fraction of the white-matter signal of each sequence.
        misalignment: (max translation mm, max rotation deg), per axis, of a random rigid motion applied to every
            MR sequence except the first (the reference, in which tissues, masks and CT are defined).
        ct_noise_hu: std of the Gaussian CT noise in HU.
    """
    shape = tuple(int(s) for s in shape)
    spacing = tuple(float(s) for s in spacing)
    sequences = tuple(sequences)
    _check_options(seed, shape, spacing, sequences, bias_field, noise, misalignment, ct_noise_hu)
    affine = _centred_affine(shape, spacing)
    tissues, diploe = _head_anatomy(seed, shape, spacing)
    texture_fields = smooth_random_fields(_rng(seed, _STREAM_TEXTURE), shape, 2, cutoff_cycles=3.0)
    mr_texture = 0.03 * texture_fields[0] * (tissues != Tissue.BACKGROUND)

    images: dict[str, np.ndarray] = {}
    bias_fields: dict[str, np.ndarray] = {}
    motions: dict[str, np.ndarray] = {}
    for index, sequence in enumerate(sequences):
        stream = list(SEQUENCE_PARAMS).index(sequence)
        image = _clean_mr(sequence, tissues, diploe, mr_texture)
        motion = np.eye(4)
        if index > 0 and max(misalignment) > 0:
            motion = random_rigid_transform(_rng(seed, _STREAM_MOTION, stream), *misalignment)
            image = apply_rigid_transform(image, motion, affine)
        field = smooth_bias_field(_rng(seed, _STREAM_BIAS, stream), shape, bias_field)
        image *= field
        sigma = noise * _mr_signal(sequence, TISSUE_PROPERTIES[Tissue.WHITE_MATTER])
        image = add_rician_noise(image, sigma, _rng(seed, _STREAM_NOISE, stream))
        images[sequence] = image.astype(np.float32, copy=False)
        bias_fields[sequence] = field
        motions[sequence] = motion
    images["ct"] = _ct(seed, tissues, diploe, texture_fields[1], ct_noise_hu)

    head_mask = tissues != Tissue.BACKGROUND
    brain_mask = np.isin(tissues, BRAIN_TISSUES)
    return HeadPhantom(tissues, images, head_mask, brain_mask, affine, bias_fields, motions)


def _gzip_level(payload: bytes) -> int:
    """1 if a sample of the payload compresses, else 0: noisy float volumes shrink ~10 % at 10x the write time."""
    middle = len(payload) // 2
    sample = payload[middle : middle + (1 << 16)]
    return 1 if len(zlib.compress(sample, 1)) < 0.8 * len(sample) else 0


def save_nifti(
    array: np.ndarray, affine: np.ndarray, path: str | os.PathLike, dtype=np.float32, compresslevel: int | None = None
) -> Path:
    """Write a NIfTI-1 file with byte-identical output for identical input (gzip mtime fixed to 0).

    Args:
        compresslevel: gzip level for ``.nii.gz``; None chooses 1 when the data compress, 0 (stored) when not.
    """
    path = Path(path)
    if not path.name.endswith((".nii.gz", ".nii")):
        raise ValueError(f"{path}: a NIfTI path must end in .nii.gz or .nii.")
    data = np.asarray(array, dtype=dtype)
    if data.ndim != 3:
        raise ValueError(f"{path}: expected a 3D volume, got shape {data.shape}.")
    affine = np.asarray(affine, dtype=np.float64)
    image = nib.Nifti1Image(data, affine)
    image.header.set_data_dtype(data.dtype)
    image.header.set_xyzt_units("mm")
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    payload = image.to_bytes()
    if path.name.endswith(".gz"):
        level = _gzip_level(payload) if compresslevel is None else compresslevel
        payload = gzip.compress(payload, compresslevel=level, mtime=0)
    return write_bytes_atomic(path, payload)  # a reader never sees a half-written volume


def write_head_subject(out_dir: str | os.PathLike, subject: str, phantom: HeadPhantom) -> dict[str, str]:
    """Write a phantom's images, label map and masks as ``{subject}_<name>.nii.gz``; return the datalist item."""
    if not subject or any(sep in subject for sep in ("/", "\\")) or subject in (".", ".."):
        raise ValueError(f"subject must be a plain name usable in a file name, got {subject!r}.")
    out_dir = Path(out_dir)
    item = {"subject": subject}
    volumes = [(name, f"{subject}_{name}.nii.gz", image, np.float32) for name, image in phantom.images.items()]
    volumes += [
        ("tissues", f"{subject}_tissues.nii.gz", phantom.tissues, np.uint8),
        ("head_mask", f"{subject}_headmask.nii.gz", phantom.head_mask, np.uint8),
        ("brain_mask", f"{subject}_brainmask.nii.gz", phantom.brain_mask, np.uint8),
    ]
    for key, name, array, dtype in volumes:
        save_nifti(array, phantom.affine, out_dir / name, dtype=dtype)
        item[key] = name
    return item
