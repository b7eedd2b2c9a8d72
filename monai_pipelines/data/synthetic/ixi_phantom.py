"""Demo data for the MM-GAN bundle: head phantoms written in the IXI download layout, then Phase 1 on them.

Each subject is ``IXI9##-Phantom-####-{T1,T2,PD}.nii.gz``: T2 and PD share one grid (as IXI's dual-echo scan),
T1 is slightly misregistered (random rigid motion); every sequence has its own smooth bias field and Rician noise,
so registration matters always and N4 matters for the "n4" variant.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from monai_pipelines.data.synthetic.head_phantom import make_head_phantom, save_nifti

__all__ = ["generate_ixi_phantom_baseline", "generate_ixi_phantom_n4", "ixi_phantom_subject", "write_ixi_phantom"]

DEMO_SUBJECTS = 10
DEMO_SHAPE = (64, 64, 48)
DEMO_SPACING = (3.0, 3.0, 3.0)
DEMO_SIZE = 64


def ixi_phantom_subject(index: int) -> str:
    """IXI-style id of phantom subject ``index``."""
    return f"IXI{900 + index:03d}-Phantom-{index:04d}"


def write_ixi_phantom(
    out_dir: str | os.PathLike,
    n_subjects: int = DEMO_SUBJECTS,
    shape: tuple[int, int, int] = DEMO_SHAPE,
    spacing: tuple[float, float, float] = DEMO_SPACING,
    bias_field: float = 0.4,
    noise: float = 0.02,
    misalignment: tuple[float, float] = (4.0, 4.0),
    seed: int = 0,
    sequences: tuple[str, ...] = ("T1", "T2", "PD"),
) -> list[str]:
    """Write ``n_subjects`` phantom subjects as IXI raw files into ``out_dir``; returns the subject ids.

    Args:
        misalignment: (max translation mm, max rotation deg) of T1 relative to T2/PD.
        sequences: which files to write (leave one out to mimic an incomplete subject).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    subjects = []
    for i in range(n_subjects):
        subject_seed = seed * 1000 + i
        common = {"shape": shape, "spacing": spacing, "bias_field": bias_field, "noise": noise}
        # T2 is the reference (not moved); T1 moves; PD is generated with T2 as reference, so it shares its grid
        moved = make_head_phantom(subject_seed, sequences=("t2", "t1"), misalignment=misalignment, **common)
        dual = make_head_phantom(subject_seed, sequences=("t2", "pd"), **common)
        images = {"T1": moved.images["t1"], "T2": moved.images["t2"], "PD": dual.images["pd"]}
        subject = ixi_phantom_subject(i)
        for seq in sequences:
            save_nifti(images[seq], moved.affine, out / f"{subject}-{seq}.nii.gz")
        subjects.append(subject)
    return subjects


def _generate(out_dir: Path, n4: bool) -> None:
    from monai_pipelines.data.ixi import prepare_ixi

    raw = Path(tempfile.mkdtemp(prefix="ixi-phantom-raw-"))
    try:
        write_ixi_phantom(raw)
        prepare_ixi(
            raw, out_dir, n4=n4, size=DEMO_SIZE, seed=42, folds=4, progress=None, n4_iterations=(20, 20),
            name="ixi_phantom_n4" if n4 else "ixi_phantom_baseline",
        )
    finally:
        shutil.rmtree(raw, ignore_errors=True)


def generate_ixi_phantom_baseline(out_dir: Path) -> None:
    """Demo ``ixi_phantom_baseline``: phantom subjects through Phase 1 without N4 (64x64 slices)."""
    _generate(Path(out_dir), n4=False)


def generate_ixi_phantom_n4(out_dir: Path) -> None:
    """Demo ``ixi_phantom_n4``: the same subjects through Phase 1 with N4 (64x64 slices)."""
    _generate(Path(out_dir), n4=True)
