"""Synthetic glioma phantoms (HGG vs LGG) in the head phantom, FLAIR/T1/T1ce/T2, written in the BraTS 2018 layout.

HGG: a larger core with a necrotic centre (dark on T1, intermediate on FLAIR), a ring that enhances on T1ce
(gadolinium shortens its T1) and a large, irregular, heterogeneous oedema (bright on FLAIR/T2). LGG: a smaller,
homogeneous, non-enhancing mass (bright on FLAIR/T2) with little oedema. Sizes of the two grades overlap a little.
Signals follow the spin-echo equation (T1, T2) and the inversion-recovery one (FLAIR) with literature-like
relaxation times; images are skull-stripped like BraTS and stored as int16. The segmentation uses BraTS labels
(1 necrosis/non-enhancing, 2 oedema, 4 enhancing).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from monai_pipelines.data.synthetic.deformation import smooth_bias_field, smooth_random_fields
from monai_pipelines.data.synthetic.head_phantom import make_head_phantom, save_nifti
from monai_pipelines.data.synthetic.mr_signal import add_rician_noise, spin_echo_signal
from monai_pipelines.data.synthetic.tissues import TISSUE_PROPERTIES, Tissue

__all__ = ["GliomaPhantom", "make_glioma_phantom", "flair_signal", "generate_glioma", "GLIOMA_SEQUENCES"]

GLIOMA_SEQUENCES = ("flair", "t1", "t1ce", "t2")
GLIOMA_SUBJECTS = 160  # 40 were too few: the CNN memorised the folds (see the bundle README)
GLIOMA_SHAPE = (64, 64, 64)
GLIOMA_SPACING = (2.5, 2.5, 2.5)  # a 160 mm field of view, so the head is head-sized
MR_SCALE = 1000.0
SE_PARAMS = {"t1": (500.0, 15.0), "t2": (4000.0, 100.0)}  # TR, TE ms
FLAIR_PARAMS = (9000.0, 2500.0, 120.0)  # TR, TI, TE ms: CSF nulled
# (T1 ms, T2 ms, PD) of the lesion compartments; "enhancing" has T1 ENHANCED_T1_MS after contrast
LESION_PROPERTIES = {
    "oedema": (1150.0, 160.0, 0.86),
    "solid": (1350.0, 180.0, 0.88),  # LGG non-enhancing tumour
    "enhancing": (1200.0, 120.0, 0.84),
    "necrosis": (2600.0, 450.0, 0.95),
}
ENHANCED_T1_MS = 320.0
BRATS_LABELS = {"necrosis": 1, "solid": 1, "oedema": 2, "enhancing": 4}
_STREAM_LESION = 20


@dataclass
class GliomaPhantom:
    """One subject: the four MR images (skull-stripped), BraTS-style segmentation, brain mask, affine, grade."""

    images: dict[str, np.ndarray]
    seg: np.ndarray
    brain_mask: np.ndarray
    affine: np.ndarray
    grade: str


def flair_signal(pd, t1_ms, t2_ms, tr_ms: float, ti_ms: float, te_ms: float) -> np.ndarray:
    """Inversion-recovery magnitude ``PD * |1 - 2 exp(-TI/T1) + exp(-TR/T1)| * exp(-TE/T2)``."""
    pd, t1_ms, t2_ms = (np.asarray(v, dtype=np.float64) for v in (pd, t1_ms, t2_ms))
    return pd * np.abs(1.0 - 2.0 * np.exp(-ti_ms / t1_ms) + np.exp(-tr_ms / t1_ms)) * np.exp(-te_ms / t2_ms)


def _signal(sequence: str, t1_ms: float, t2_ms: float, pd: float) -> float:
    if sequence == "flair":
        return float(flair_signal(pd, t1_ms, t2_ms, *FLAIR_PARAMS)) * MR_SCALE
    tr, te = SE_PARAMS["t1" if sequence == "t1ce" else sequence]
    return float(spin_echo_signal(pd, t1_ms, t2_ms, tr, te)) * MR_SCALE


def _lesion(rng: np.random.Generator, grade: str, brain: np.ndarray, shape: tuple[int, int, int]) -> dict:
    """Compartment masks and the texture of the lesion, centred in the brain's deep white matter."""
    unit = 0.5 * min(shape)
    hgg = grade == "HGG"
    radius = rng.uniform(0.14, 0.24) if hgg else rng.uniform(0.11, 0.19)
    # centre: a brain voxel deep enough for the core (falls back to the deepest one)
    depth = ndimage.distance_transform_edt(brain) / unit
    candidates = np.argwhere(depth > radius * 1.1)
    centre = candidates[rng.integers(len(candidates))] if len(candidates) else np.unravel_index(depth.argmax(), shape)
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij"))
    offset = (grid - np.asarray(centre, dtype=np.float32)[:, None, None, None]) / unit
    axes = rng.uniform(0.8, 1.2, size=3).astype(np.float32)
    rho = np.sqrt(((offset / axes[:, None, None, None]) ** 2).sum(0))
    shape_field, oedema_field, texture = smooth_random_fields(rng, shape, 3, cutoff_cycles=2.0)
    core_rho = rho * (1.0 + 0.12 * shape_field)
    if hgg:
        oedema_radius = radius * rng.uniform(1.5, 2.1)
        oedema = (rho * (1.0 + 0.3 * oedema_field) < oedema_radius) & brain
        core = (core_rho < radius) & brain
        necrosis = core & (core_rho < radius * rng.uniform(0.45, 0.65))
        parts = {"oedema": oedema & ~core, "enhancing": core & ~necrosis, "necrosis": necrosis}
        heterogeneity = 0.15
    else:
        oedema = (rho * (1.0 + 0.1 * oedema_field) < radius * rng.uniform(1.0, 1.35)) & brain
        core = (core_rho < radius) & brain
        parts = {"oedema": oedema & ~core, "solid": core}
        heterogeneity = 0.02
    return {"parts": parts, "texture": heterogeneity * texture, "enhancement": rng.uniform(0.6, 1.0) if hgg else 0.0}


def make_glioma_phantom(
    seed: int,
    grade: str,
    shape: tuple[int, int, int] = GLIOMA_SHAPE,
    spacing: tuple[float, float, float] = GLIOMA_SPACING,
    noise: float = 0.03,
    bias_field: float = 0.15,
) -> GliomaPhantom:
    """Generate one glioma subject deterministically from ``seed`` and ``grade`` ("HGG" or "LGG")."""
    if grade not in ("HGG", "LGG"):
        raise ValueError(f"grade must be 'HGG' or 'LGG', got {grade!r}.")
    head = make_head_phantom(seed, shape, spacing, sequences=("t1",), ct_noise_hu=0.0)
    brain = head.brain_mask
    rng = np.random.default_rng([seed, _STREAM_LESION])
    lesion = _lesion(rng, grade, brain, tuple(shape))
    seg = np.zeros(shape, dtype=np.uint8)
    for name, mask in lesion["parts"].items():
        seg[mask] = BRATS_LABELS[name]
    images = {}
    for index, sequence in enumerate(GLIOMA_SEQUENCES):
        lut = np.zeros(len(Tissue), dtype=np.float32)
        for tissue in (Tissue.CSF, Tissue.GREY_MATTER, Tissue.WHITE_MATTER):
            p = TISSUE_PROPERTIES[tissue]
            lut[tissue] = _signal(sequence, p.t1_ms, p.t2_ms, p.pd)
        image = lut[head.tissues] * brain
        for name, mask in lesion["parts"].items():
            t1, t2, pd = LESION_PROPERTIES[name]
            if name == "enhancing" and sequence == "t1ce":
                t1 = t1 + lesion["enhancement"] * (ENHANCED_T1_MS - t1)
            image[mask] = _signal(sequence, t1, t2, pd) * (1.0 + lesion["texture"][mask])
        image = ndimage.gaussian_filter(image.astype(np.float32), 0.5, truncate=3.0)
        image *= smooth_bias_field(np.random.default_rng([seed, _STREAM_LESION, 1, index]), shape, bias_field)
        sigma = noise * lut[Tissue.WHITE_MATTER]
        image = add_rician_noise(image, sigma, np.random.default_rng([seed, _STREAM_LESION, 2, index]))
        images[sequence] = np.where(brain, image, 0.0).astype(np.float32)  # skull-stripped, as BraTS
    return GliomaPhantom(images, seg, brain, head.affine, grade)


def write_glioma_subject(out_dir: str | os.PathLike, subject: str, phantom: GliomaPhantom) -> None:
    """``<out_dir>/<grade>/<subject>/<subject>_{flair,t1,t1ce,t2,seg}.nii.gz`` (int16 images, uint8 seg)."""
    folder = Path(out_dir) / phantom.grade / subject
    for sequence, image in phantom.images.items():
        save_nifti(np.round(image), phantom.affine, folder / f"{subject}_{sequence}.nii.gz", dtype=np.int16)
    save_nifti(phantom.seg, phantom.affine, folder / f"{subject}_seg.nii.gz", dtype=np.uint8)


def generate_glioma(
    out_dir: str | os.PathLike,
    n_subjects: int = GLIOMA_SUBJECTS,
    shape: tuple[int, int, int] = GLIOMA_SHAPE,
    seed: int = 0,
    folds: int = 5,
    hgg_fraction: float = 0.75,
) -> Path:
    """Write ``n_subjects`` phantoms (about 3 HGG : 1 LGG) in the BraTS 2018 layout and ``manifest.json``."""
    from monai_pipelines.data.brats import build_brats_manifest
    from monai_pipelines.data.manifest import write_manifest

    out_dir = Path(out_dir)
    n_hgg = int(round(n_subjects * hgg_fraction))
    grades = ["HGG"] * n_hgg + ["LGG"] * (n_subjects - n_hgg)
    np.random.default_rng(seed).shuffle(grades)
    for i, grade in enumerate(grades):
        subject = f"Brats18_SYNTH_{i:03d}_1"
        write_glioma_subject(out_dir, subject, make_glioma_phantom(seed * 100_003 + i, grade, shape))
    manifest = build_brats_manifest(
        out_dir, k=folds, seed=seed, name="glioma_phantom",
        description=f"Synthetic glioma phantoms ({n_hgg} HGG, {n_subjects - n_hgg} LGG), {shape} voxels, BraTS layout.",
    )
    return write_manifest(manifest, out_dir / "manifest.json")
