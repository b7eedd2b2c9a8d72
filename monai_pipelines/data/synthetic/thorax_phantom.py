"""A synthetic breathing thorax (4D CT in HU) for the average-CT -> phase-0 CT demo.

Body with a fat layer, two lungs with vessels, a domed diaphragm over the liver, ribs, spine, heart and a lung
tumour. Ten respiratory phases: phase 0 is end-inhale (diaphragm lowest), phase 5 end-exhale; the diaphragm, the
lungs' inner structures, the heart (half amplitude) and the tumour move superior-inferior, the anterior chest wall
rises. The average of the phases is motion blurred, as an average CT. Everything is analytic and seeded, so the
same seed gives byte-identical files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from monai_pipelines.data.manifest import write_manifest
from monai_pipelines.data.paired_volumes import build_paired_manifest
from monai_pipelines.data.synthetic.head_phantom import save_nifti

N_PHASES = 10
THORAX_SHAPE = (64, 64, 32)
THORAX_SPACING = (6.0, 6.0, 8.0)  # mm: 384 x 384 x 256 mm field of view
# per-phase noise: 4D CT's ~20-30 HU at 1 x 1 x 2.5 mm falls with the square root of the voxel volume (x115 here)
THORAX_NOISE_HU = 3.0
THORAX_SUBJECTS, THORAX_TEST_SUBJECTS = 48, 6
HU = {"air": -1000.0, "lung": -850.0, "vessel": -150.0, "fat": -100.0, "soft": 40.0, "liver": 60.0,
      "blood": 45.0, "tumour": 25.0, "spine": 450.0, "rib": 800.0}


@dataclass(frozen=True)
class ThoraxPhantom:
    """The phases (N_PHASES, X, Y, Z) in HU, their average, phase 0, and the affine (mm, RAS)."""

    phases: np.ndarray
    affine: np.ndarray

    @property
    def average(self) -> np.ndarray:
        return self.phases.mean(axis=0)

    @property
    def phase0(self) -> np.ndarray:
        return self.phases[0]


def breathing_amplitude(phase: int, n_phases: int = N_PHASES) -> float:
    """1 at end-inhale (phase 0), 0 at end-exhale (phase n/2): cos^2 respiratory signal."""
    return float(np.cos(np.pi * phase / n_phases) ** 2)


def _ellipse(u: np.ndarray, v: np.ndarray, cu: float, cv: float, ru: float, rv: float) -> np.ndarray:
    return ((u - cu) / ru) ** 2 + ((v - cv) / rv) ** 2


def _subject_params(rng: np.random.Generator) -> dict:
    return {
        "body": (rng.uniform(0.78, 0.88), rng.uniform(0.52, 0.6)),
        "lung_x": rng.uniform(0.36, 0.42),
        "lung_r": (rng.uniform(0.27, 0.31), rng.uniform(0.36, 0.4)),
        "dome": rng.uniform(-0.35, -0.2),  # diaphragm dome height at exhale (z in [-1, 1])
        "amp": rng.uniform(0.1, 0.2),  # SI motion at end-inhale, ~13-26 mm
        "chest": rng.uniform(0.015, 0.03),  # anterior chest-wall rise
        "heart": (rng.uniform(-0.15, -0.05), rng.uniform(0.08, 0.18), rng.uniform(0.16, 0.2)),  # left, anterior
        "tumour": (rng.choice([-1.0, 1.0]) * rng.uniform(0.3, 0.45), rng.uniform(-0.1, 0.15),
                   rng.uniform(-0.1, 0.25), rng.uniform(0.06, 0.1)),
        "rib_phase": rng.uniform(0, 2 * np.pi),
        "vessels": rng.uniform(-1, 1, size=(40, 3)) * np.array([0.45, 0.3, 0.6]) + np.array([0, 0, 0.2]),
    }


def _phase_volume(grid: tuple[np.ndarray, np.ndarray, np.ndarray], p: dict, s: float) -> np.ndarray:
    x, y, z = grid  # x left-right, y posterior(-)-anterior(+), z inferior(-)-superior(+), all in [-1, 1]
    body_a, body_b = p["body"]
    # displacement: SI motion inside the rib cage, largest at the diaphragm, none at the apex; chest wall rises
    inside = np.clip(1.2 - _ellipse(x, y, 0.0, 0.0, body_a * 0.85, body_b * 0.85), 0.0, 1.0)
    above = np.clip((1.0 - z) / (1.0 - p["dome"]), 0.0, 1.0)
    uz = -p["amp"] * s * inside * np.where(z > p["dome"], above, 1.0)
    uy = p["chest"] * s * np.clip(y / body_b, 0.0, 1.0)
    y0, z0 = y - uy, z - uz  # backward warp: anatomy of the exhale reference at the displaced point
    vol = np.full(x.shape, HU["air"], dtype=np.float32)
    body = _ellipse(x, y0, 0.0, 0.0, body_a, body_b) <= 1.0
    vol[body] = HU["fat"]
    vol[_ellipse(x, y0, 0.0, 0.0, body_a - 0.05, body_b - 0.05) <= 1.0] = HU["soft"]
    # ribs: thin bands at the inner body wall, periodic in z, moving with the chest wall
    wall = _ellipse(x, y0, 0.0, 0.0, body_a - 0.07, body_b - 0.07)
    ribs = (wall <= 1.0) & (wall >= 0.86) & (np.sin(z * 9.0 + p["rib_phase"]) > 0.55) & (y > -body_b * 0.7)
    # lungs above the domed diaphragm (dome lower laterally); lung tissue follows the SI motion (z0)
    dome = p["dome"] - 0.25 * (np.abs(x) - p["lung_x"]) ** 2 / 0.1
    lx, (rx, ry) = p["lung_x"], p["lung_r"]
    apex = ((z0 - 0.15) / 0.9) ** 2  # ellipsoidal lungs, rounded at the apex, cut below by the diaphragm
    lungs = (_ellipse(x, y0, -lx, 0.0, rx, ry) + apex <= 1.0) | (_ellipse(x, y0, lx, 0.0, rx, ry) + apex <= 1.0)
    lungs &= z0 > dome
    vol[lungs] = HU["lung"]
    vessels = np.zeros(x.shape, dtype=np.float32)
    for vx, vy, vz in p["vessels"]:
        vessels += np.exp(-(((x - vx) ** 2 + (y0 - vy) ** 2 + (z0 - vz) ** 2) / 0.004))
    vol[lungs] += np.clip(vessels[lungs], 0, 1) * (HU["vessel"] - HU["lung"])
    liver = body & (z0 <= dome) & (_ellipse(x, y0, -0.1, 0.0, body_a - 0.12, body_b - 0.12) <= 1.0)
    vol[liver] = HU["liver"]
    hx, hy, hr = p["heart"]
    # the heart rides on the diaphragm with half its motion
    heart_z = z - 0.5 * (-p["amp"] * s)
    heart = _ellipse(x, y0, hx, hy, hr * 1.3, hr) + ((heart_z - p["dome"] - 0.25) / 0.3) ** 2 <= 1.0
    vol[heart & ~lungs] = HU["blood"]
    tx, ty, tz, tr = p["tumour"]
    vol[(x - tx) ** 2 + (y0 - ty) ** 2 + (z0 - tz) ** 2 <= tr**2] = HU["tumour"]
    vol[ribs] = HU["rib"]
    vol[_ellipse(x, y, 0.0, -body_b + 0.16, 0.1, 0.08) <= 1.0] = HU["spine"]  # static spine
    return vol


def make_thorax_phantom(
    seed: int = 0, shape: tuple[int, int, int] = THORAX_SHAPE, n_phases: int = N_PHASES,
    noise_hu: float = THORAX_NOISE_HU,
) -> ThoraxPhantom:
    """The phases of one subject; ``noise_hu`` is the per-phase Gaussian noise (independent across phases)."""
    rng = np.random.default_rng(seed)
    params = _subject_params(rng)
    axes = [np.linspace(-1.0, 1.0, n, dtype=np.float32) for n in shape]
    grid = np.meshgrid(*axes, indexing="ij")
    phases = np.stack([_phase_volume(grid, params, breathing_amplitude(t, n_phases)) for t in range(n_phases)])
    if noise_hu > 0:
        phases += rng.normal(0.0, noise_hu, size=phases.shape).astype(np.float32)
    affine = np.diag([*THORAX_SPACING, 1.0])
    affine[:3, 3] = [-(n - 1) * s / 2 for n, s in zip(shape, THORAX_SPACING)]
    return ThoraxPhantom(phases.astype(np.float32), affine)


def generate_thorax_phases(
    out_dir: str | Path, n_subjects: int = THORAX_SUBJECTS, n_test: int = THORAX_TEST_SUBJECTS,
    shape: tuple[int, int, int] = THORAX_SHAPE, seed: int = 0, folds: int = 5, noise_hu: float = THORAX_NOISE_HU,
) -> Path:
    """Write the demo in the pix2pix layout (trainA = average CT, trainB = phase 0; testA/testB) + manifest.json."""
    out_dir = Path(out_dir)
    for i in range(n_subjects):
        split = "test" if i >= n_subjects - n_test else "train"
        phantom = make_thorax_phantom(seed=seed * 100_003 + i, shape=shape, noise_hu=noise_hu)
        name = f"thorax_{i:03d}.nii.gz"
        save_nifti(phantom.average, phantom.affine, out_dir / f"{split}A" / name)
        save_nifti(phantom.phase0, phantom.affine, out_dir / f"{split}B" / name)
    manifest = build_paired_manifest(
        out_dir, k=folds, seed=seed, name="thorax_phases",
        description=f"Synthetic breathing thorax, {N_PHASES} phases: condition = average CT, target = phase 0 "
        f"(end-inhale), HU, {shape[0]}x{shape[1]}x{shape[2]} at {THORAX_SPACING} mm.",
    )
    return write_manifest(manifest, out_dir / "manifest.json")
