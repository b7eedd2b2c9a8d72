"""Synthetic Landsat-7-like glacier tiles: DEM with a valley, clean ice above the equilibrium line, a
debris-covered tongue below, a proglacial lake at the terminus, per-class spectra, indices, elevation and slope.

Bands and order are the HKH tiles' (``monai_pipelines.data.hkh.HKH_BANDS``), DN-like scale 0-255. Spectra follow
textbook signatures: ice/snow bright in the visible and dark in SWIR (high NDSI), debris and rock flat and
rock-like (debris cooler in the thermal band, lying on the gentle valley floor), water dark in NIR/SWIR (high
NDWI), vegetation bright in NIR at low elevation. Snow patches on high ground outside the glacier and
topographic shading make a spectral threshold (NDSI > 0.4) imperfect, as on real scenes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from monai_pipelines.data.geotiff import require_rasterio
from monai_pipelines.data.hkh import HKH_BANDS, HKH_CLASSES
from monai_pipelines.data.manifest import build_manifest, write_manifest
from monai_pipelines.utils.atomic_write import atomic_path

__all__ = ["generate_glacier_tiles", "glacier_tile", "SPECTRA"]

PIXEL_M = 30.0
# reflectance of B1 B2 B3 B4 B5 B7 B8 and thermal (B6, 0-1 scale) per surface
SPECTRA = {
    "ice": [0.80, 0.76, 0.70, 0.58, 0.07, 0.05, 0.66, 0.20],
    "debris": [0.14, 0.16, 0.19, 0.24, 0.29, 0.24, 0.19, 0.36],
    "rock": [0.17, 0.19, 0.23, 0.28, 0.34, 0.28, 0.23, 0.50],
    "vegetation": [0.06, 0.09, 0.06, 0.38, 0.20, 0.10, 0.18, 0.55],
    "water": [0.16, 0.17, 0.11, 0.05, 0.02, 0.01, 0.12, 0.30],
}


def _smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    n = gaussian_filter(rng.standard_normal((size, size)), sigma)
    return n / (n.std() + 1e-9)


def glacier_tile(seed: int, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """(15, H, W) float32 bands in HKH order and (H, W) uint8 labels (0 bg, 1 clean ice, 2 debris, 3 lake)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size].astype(np.float64) / size
    # valley axis: enters high on one side, descends across the tile, meandering a little
    angle = rng.uniform(0, 2 * np.pi)
    along = (xx - 0.5) * np.cos(angle) + (yy - 0.5) * np.sin(angle)  # -0.7..0.7, downhill positive
    across = -(xx - 0.5) * np.sin(angle) + (yy - 0.5) * np.cos(angle)
    across = across - 0.08 * np.sin(along * rng.uniform(4, 8) + rng.uniform(0, 6))
    top = rng.uniform(5600, 6200)
    elevation = top - 1100 * (along + 0.7) / 1.4 + 1500 * np.abs(across) ** 1.2
    elevation += 60 * _smooth_noise(rng, size, 8) + 4 * _smooth_noise(rng, size, 1)
    gy, gx = np.gradient(elevation, PIXEL_M)
    slope = np.degrees(np.arctan(np.hypot(gx, gy)))

    width = rng.uniform(0.12, 0.2) * (1 - 0.35 * (along + 0.7) / 1.4)  # glacier narrows downstream
    in_glacier = np.abs(across) < width
    ela = rng.uniform(-0.15, 0.15)  # along-valley position of the equilibrium line
    terminus = rng.uniform(0.18, 0.32)
    edge = 0.02 * _smooth_noise(rng, size, 4)
    labels = np.zeros((size, size), dtype=np.uint8)
    labels[in_glacier & (along + edge < ela)] = 1
    labels[in_glacier & (along + edge >= ela) & (along + edge < terminus)] = 2
    lake_r = rng.uniform(0.07, 0.11)
    lake = (along - terminus - lake_r * 0.9) ** 2 + (across * 1.3) ** 2 < lake_r**2
    labels[lake] = 3

    # background surfaces: vegetation low down, rock in between, snow patches on high ground
    background = labels == 0
    snow_line = np.percentile(elevation, 88)
    snow = background & (elevation + 150 * _smooth_noise(rng, size, 2) > snow_line)
    vegetation = background & ~snow & (elevation < np.percentile(elevation, 25))
    fractions = {
        "ice": (labels == 1) | snow,
        "debris": labels == 2,
        "water": labels == 3,
        "vegetation": vegetation,
        "rock": background & ~snow & ~vegetation,
    }
    refl = np.zeros((8, size, size))
    for name, where in fractions.items():
        spec = np.asarray(SPECTRA[name])[:, None, None]
        # per-pixel variability: albedo changes (dirty ice, wet debris) and a little spectral jitter
        albedo = 1 + (0.12 if name != "water" else 0.05) * _smooth_noise(rng, size, 1.5)
        refl += where * spec * albedo
    # topographic shading (sun from the south-east at 45 degrees elevation) on the reflective bands
    az, el = np.radians(135), np.radians(45)
    aspect = np.arctan2(-gx, gy)
    shade = np.sin(el) * np.cos(np.radians(slope)) + np.cos(el) * np.sin(np.radians(slope)) * np.cos(az - aspect)
    refl[:7] *= np.clip(0.55 + 0.6 * shade, 0.35, 1.2)
    refl += 0.01 * rng.standard_normal(refl.shape)
    dn = np.clip(refl * 255, 0, 255)

    b1, b2, b3, b4, b5, b7, b8, thermal = dn
    therm = np.clip(40 + 90 * refl[7] - 0.004 * (elevation - 4500), 0, 130)
    bqa = np.full((size, size), 672.0)
    eps = 1e-6
    ndvi = (b4 - b3) / (b4 + b3 + eps)
    ndsi = (b2 - b5) / (b2 + b5 + eps)
    ndwi = (b2 - b4) / (b2 + b4 + eps)
    bands = [b1, b2, b3, b4, b5, therm, therm * 0.9 + 5, b7, b8, bqa, ndvi, ndsi, ndwi, elevation, slope]
    return np.stack(bands).astype(np.float32), labels


def _write_tile(path: Path, bands: np.ndarray, labels: np.ndarray, seed: int) -> None:
    rasterio = require_rasterio()

    transform = rasterio.transform.from_origin(400000.0 + 5000.0 * seed, 3100000.0, PIXEL_M, PIXEL_M)
    common = {"driver": "GTiff", "height": labels.shape[0], "width": labels.shape[1], "crs": "EPSG:32645",
              "transform": transform, "compress": "deflate"}
    with atomic_path(path / "image.tif") as tmp, rasterio.open(tmp, "w", count=len(bands), dtype="float32",
                                                               **common) as dst:
        dst.write(bands)
        for i, name in enumerate(HKH_BANDS, start=1):
            dst.set_band_description(i, name)
    with atomic_path(path / "label.tif") as tmp, rasterio.open(tmp, "w", count=1, dtype="uint8", **common) as dst:
        dst.write(labels, 1)


def generate_glacier_tiles(out_dir: Path, n_tiles: int = 40, size: int = 128, seed: int = 0) -> Path:
    """Write ``n_tiles`` tiles (``tile_XXX/image.tif`` + ``label.tif``) and ``manifest.json`` (5 folds) into
    ``out_dir``; deterministic for a given seed."""
    out_dir = Path(out_dir)
    items = []
    for i in range(n_tiles):
        bands, labels = glacier_tile(seed * 100003 + i, size)
        tile_dir = out_dir / f"tile_{i:03d}"
        tile_dir.mkdir(parents=True, exist_ok=True)
        _write_tile(tile_dir, bands, labels, i)
        items.append({"image": f"tile_{i:03d}/image.tif", "label": f"tile_{i:03d}/label.tif",
                      "subject": f"tile_{i:03d}"})
    manifest = build_manifest(
        "glacier_tiles", items, k=5, seed=seed, test_fraction=0.1,
        description="synthetic Landsat-7-like glacier tiles (DEM, clean ice, debris tongues, lakes)",
        modality={"bands": list(HKH_BANDS)}, labels=HKH_CLASSES, label_key=None,
    )
    return write_manifest(manifest, out_dir / "manifest.json")
