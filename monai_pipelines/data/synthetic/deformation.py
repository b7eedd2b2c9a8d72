"""Smooth random fields, multiplicative bias fields and rigid misalignments for the synthetic phantoms.

Our own rather than MONAI's random transforms: a phantom generator needs numpy-only, seed-addressed fields
(one ``numpy.random.Generator`` in, the same bytes out) and the applied transform returned in world millimetres.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
from scipy import ndimage

__all__ = ["smooth_random_fields", "smooth_bias_field", "random_rigid_transform", "apply_rigid_transform"]


def smooth_random_fields(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    n: int,
    cutoff_cycles: float,
    band_centre_cycles: float = 0.0,
) -> np.ndarray:
    """``n`` smooth Gaussian random fields of zero mean and unit std, shape ``(n, *shape)``, float32.

    Built in Fourier space: random coefficients weighted by ``exp(-((|k| - band_centre) / cutoff)^2 / 2)`` with
    ``k`` in cycles per field of view, so a low-pass (``band_centre_cycles=0``) or band-pass field. The random
    coefficients do not depend on ``shape``, so the same generator state gives the same continuous field sampled
    at any resolution.
    """
    kmax = int(np.ceil(band_centre_cycles + 3.0 * cutoff_cycles))
    ks = np.arange(-kmax, kmax + 1)
    coeffs = rng.normal(size=(n, ks.size, ks.size, kmax + 1, 2))
    kx, ky, kz = np.meshgrid(ks, ks, np.arange(kmax + 1), indexing="ij")
    radius = np.sqrt(kx**2 + ky**2 + kz**2)
    weight = np.exp(-0.5 * ((radius - band_centre_cycles) / cutoff_cycles) ** 2)
    weight[radius == 0] = 0.0  # zero mean
    spectrum_small = (coeffs[..., 0] + 1j * coeffs[..., 1]) * weight
    # Embed the low frequencies into the full rfft grid of `shape` (frequencies beyond Nyquist are dropped).
    spectrum = np.zeros((n, shape[0], shape[1], shape[2] // 2 + 1), dtype=np.complex64)
    limits = [min(kmax, s // 2 - 1) for s in shape]
    sel_x = np.abs(ks) <= limits[0]
    sel_y = np.abs(ks) <= limits[1]
    sel_z = np.arange(kmax + 1) <= limits[2]
    block = spectrum_small[:, sel_x][:, :, sel_y][:, :, :, sel_z]
    ix, iy = ks[sel_x] % shape[0], ks[sel_y] % shape[1]
    spectrum[:, ix[:, None], iy[None, :], : int(sel_z.sum())] = block
    fields = scipy.fft.irfftn(spectrum, s=shape, axes=(1, 2, 3))
    fields -= fields.mean(axis=(1, 2, 3), keepdims=True)
    fields /= np.maximum(fields.std(axis=(1, 2, 3), keepdims=True), 1e-12)
    return fields.astype(np.float32, copy=False)


def smooth_bias_field(rng: np.random.Generator, shape: tuple[int, ...], strength: float) -> np.ndarray:
    """Smooth multiplicative field with peak-to-peak ``strength`` around 1 (0.3 -> 0.85..1.15), float32."""
    if not 0.0 <= strength < 2.0:
        raise ValueError(f"bias field strength must be in [0, 2), got {strength}.")
    if strength == 0:
        return np.ones(shape, dtype=np.float32)
    field = smooth_random_fields(rng, shape, 1, cutoff_cycles=0.7)[0]
    lo, hi = float(field.min()), float(field.max())
    return (1.0 + strength * ((field - lo) / (hi - lo) - 0.5)).astype(np.float32)


def random_rigid_transform(rng: np.random.Generator, max_translation_mm: float, max_rotation_deg: float) -> np.ndarray:
    """4x4 rigid transform in world mm about the world origin: per-axis uniform translations and rotation angles."""
    if max_translation_mm < 0 or max_rotation_deg < 0:
        raise ValueError(f"misalignment bounds must be non-negative, got ({max_translation_mm}, {max_rotation_deg}).")
    angles = np.deg2rad(rng.uniform(-max_rotation_deg, max_rotation_deg, size=3))
    translation = rng.uniform(-max_translation_mm, max_translation_mm, size=3)
    cx, cy, cz = np.cos(angles)
    sx, sy, sz = np.sin(angles)
    rot_x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    rot_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rot_z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    transform = np.eye(4)
    transform[:3, :3] = rot_z @ rot_y @ rot_x
    transform[:3, 3] = translation
    return transform


def apply_rigid_transform(image: np.ndarray, transform: np.ndarray, affine: np.ndarray, order: int = 1) -> np.ndarray:
    """Move the image content by ``transform`` (world mm): ``out(x) = image(transform^-1 x)``, zero outside."""
    # voxel index of the output -> world -> source world -> source voxel index
    index_map = np.linalg.inv(affine) @ np.linalg.inv(transform) @ affine
    out = ndimage.affine_transform(
        image, index_map[:3, :3], offset=index_map[:3, 3], order=order, mode="constant", cval=0.0
    )
    return out.astype(image.dtype, copy=False)
