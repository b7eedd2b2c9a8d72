"""Multi-band GeoTIFF tiles: read with band names, select bands by name, write masks with the input's
georeferencing, colour PNG overlays, and a MONAI dictionary loader (``LoadGeoTIFFd``).

MONAI's readers (ITK, NiBabel, PIL) drop GeoTIFF band descriptions, CRS and geotransform; rasterio keeps them.
HKH slices (``.npy``, H x W x C, no band names) are read too, with their band names given by the caller.
rasterio is optional (the ``geo`` extra): only GeoTIFF reading and writing need it, through :func:`require_rasterio`.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from monai.config import KeysCollection
from monai.transforms import MapTransform
from monai.utils import OptionalImportError, optional_import

from monai_pipelines.utils.atomic_write import atomic_path
from monai_pipelines.utils.enums import Keys
from monai_pipelines.utils.errors import InputError

logger = logging.getLogger("monai_pipelines")

GEO_EXTRA_INSTALL = 'pip install -e ".[geo]"'

__all__ = [
    "CLASS_COLOURS",
    "GEO_EXTRA_INSTALL",
    "LoadGeoTIFFd",
    "LoadGeoTIFFD",
    "LoadGeoTIFFDict",
    "band_indices",
    "labels_from_channels",
    "HKH_CHANNEL_CLASSES",
    "read_geotiff",
    "read_label",
    "require_rasterio",
    "save_overlay_png",
    "write_mask_geotiff",
]

# background (transparent in overlays), clean ice, debris, lake
CLASS_COLOURS = np.array([[0, 0, 0], [80, 200, 255], [170, 110, 60], [20, 40, 200]], dtype=np.uint8)


def require_rasterio() -> Any:
    """The rasterio module; if it is not installed, an OptionalImportError whose one line says how to install it."""
    rasterio, available = optional_import("rasterio")
    if not available:
        raise OptionalImportError(f"GeoTIFF files need rasterio, which is not installed: {GEO_EXTRA_INSTALL}")
    return rasterio


def band_indices(available: Sequence[str], wanted: Sequence[str]) -> list[int]:
    """Indices of ``wanted`` band names in ``available`` (case-insensitive); ValueError naming the missing ones."""
    lookup = {str(n).lower(): i for i, n in enumerate(available)}
    missing = [w for w in wanted if str(w).lower() not in lookup]
    if missing:
        raise InputError(f"bands {missing} not found; available: {list(available)}.")
    return [lookup[str(w).lower()] for w in wanted]


def _finite(data: np.ndarray, names: Sequence[str], path: Path) -> np.ndarray:
    """``data`` with non-finite pixels (no-data) set to 0 and a warning; a band with no finite pixel is refused."""
    finite = np.isfinite(data)
    if finite.all():
        return data
    empty = [name for name, band in zip(names, finite) if not band.any()]
    if empty:
        raise InputError(f"{path}: band(s) {', '.join(map(str, empty))} hold no finite value (all NaN/Inf).")
    bad = int((~finite).sum())
    logger.warning("%s: %d non-finite pixel value(s) (no-data) set to 0", path, bad)
    return np.where(finite, data, np.float32(0.0))


def _read_npy(path: Path, what: str) -> np.ndarray:
    """An H x W or H x W x C ``.npy`` array (HKH slices and masks); one line naming the file otherwise."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} file not found.")
    try:
        data = np.load(path)
    except (ValueError, OSError, EOFError) as err:
        raise InputError(f"{path}: not a readable .npy array ({' '.join(str(err).split())}).") from err
    if data.ndim not in (2, 3):
        raise InputError(f"{path}: expected an H x W or H x W x C array, got shape {data.shape}.")
    return data


def _read_raster(path: Path, what: str, band: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """The bands of a GeoTIFF (all, or the one numbered ``band``) and ``{"transform", "crs", "descriptions"}``."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} file not found.")
    rasterio = require_rasterio()
    try:
        with rasterio.open(path) as src:
            data = src.read() if band is None else src.read(band)
            return data, {"transform": src.transform, "crs": src.crs, "descriptions": src.descriptions}
    except rasterio.errors.RasterioIOError as err:
        raise InputError(f"{path}: not a readable GeoTIFF ({' '.join(str(err).split())}).") from err


def _warn_constant(data: np.ndarray, names: Sequence[str], path: Path) -> None:
    """Odd but valid: a band of one value only (it carries no information for the model)."""
    constant = [f"{name} (every pixel {band.flat[0]:g})" for name, band in zip(names, data) if band.min() == band.max()]
    if constant:
        logger.warning("%s: constant band(s) %s", path, ", ".join(constant))


def read_geotiff(
    path: str | os.PathLike, bands: Sequence[str] | None = None, band_names: Sequence[str] | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """(C, H, W) float32 array and ``{"band_names", "transform", "crs", "path"}``.

    Args:
        bands: band names to keep, in this order (None: all).
        band_names: names to use when the file has none (``.npy`` slices, GeoTIFFs without descriptions).
    """
    path = Path(path)
    if path.suffix.lower() == ".npy":
        data = _read_npy(path, "image")
        data = data[None] if data.ndim == 2 else np.moveaxis(data, -1, 0)  # HKH slices are H x W x C
        meta: dict[str, Any] = {"transform": None, "crs": None}
        names = list(band_names) if band_names is not None else [f"band_{i + 1}" for i in range(len(data))]
    else:
        data, meta = _read_raster(path, "image")
        names = [d if d else None for d in meta.pop("descriptions")]
        if any(n is None for n in names):
            names = list(band_names) if band_names is not None else [f"band_{i + 1}" for i in range(len(data))]
    if len(names) != len(data):
        raise InputError(f"{path}: {len(data)} bands but {len(names)} band names.")
    data = data.astype(np.float32, copy=False)
    if bands is not None:
        try:
            idx = band_indices(names, bands)
        except InputError as err:
            raise InputError(f"{path}: {err}") from err
        data, names = data[idx], [names[i] for i in idx]
    data = _finite(data, names, path)
    _warn_constant(data, names, path)
    meta.update(band_names=list(names), path=str(path))
    return data, meta


# HKH slice masks burn three ICIMOD layers: channel 0 every glacier (the union), 1 clean ice, 2 debris-covered
HKH_CHANNEL_CLASSES = (0, 1, 2)


def labels_from_channels(mask: np.ndarray, channel_classes: Sequence[int] = HKH_CHANNEL_CLASSES) -> np.ndarray:
    """(H, W) class map from a multi-channel H x W x K mask: class ``channel_classes[k]`` where channel k is set
    (later channels win on overlap; class 0 leaves a channel unused), 0 elsewhere. The HKH default reads clean ice
    from channel 1 and debris from channel 2; channel 0, all glaciers, is their union and is not a class."""
    mask = np.asarray(mask)
    out = np.zeros(mask.shape[:2], dtype=np.uint8)
    for k, cls in enumerate(channel_classes):
        if cls and k < mask.shape[-1]:
            out[mask[..., k] > 0] = cls
    return out


def read_label(path: str | os.PathLike, channel_classes: Sequence[int] = HKH_CHANNEL_CLASSES,
               num_classes: int | None = None) -> np.ndarray:
    """(1, H, W) uint8 class map of a mask GeoTIFF (band 1) or an HKH ``.npy`` mask (H x W, or H x W x K channels,
    see :func:`labels_from_channels`). A mask with NaN/Inf, or (given ``num_classes``) values that are not the
    class numbers 0 .. num_classes - 1, is refused in one line naming the file."""
    path = Path(path)
    mask = _read_npy(path, "label") if path.suffix.lower() == ".npy" else _read_raster(path, "label", band=1)[0]
    if not np.isfinite(mask).all():
        raise InputError(f"{path}: the mask holds {int((~np.isfinite(mask)).sum())} NaN/Inf value(s).")
    if mask.ndim == 3:
        return labels_from_channels(mask, channel_classes)[None]
    if num_classes is not None and (mask.min() < 0 or mask.max() >= num_classes or (mask != np.round(mask)).any()):
        wrong = np.unique(mask[(mask < 0) | (mask >= num_classes) | (mask != np.round(mask))])
        raise InputError(f"{path}: mask value(s) {[float(v) if v % 1 else int(v) for v in wrong[:5]]} are not "
                         f"class numbers 0 .. {num_classes - 1}.")
    return mask.astype(np.uint8)[None]


def write_mask_geotiff(mask: np.ndarray, path: str | os.PathLike, like: str | os.PathLike | None) -> Path:
    """Write an (H, W) uint8 class map as a single-band GeoTIFF with ``like``'s transform and CRS and a colour map
    (``like`` None: no georeferencing, as for an input ``.npy`` slice)."""
    rasterio = require_rasterio()
    mask = np.asarray(mask).squeeze()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "height": mask.shape[0], "width": mask.shape[1], "count": 1, "dtype": "uint8",
               "compress": "deflate"}
    if like is not None:
        with rasterio.open(like) as ref:
            if (ref.height, ref.width) != mask.shape:
                raise ValueError(f"{path}: mask shape {mask.shape} differs from {like} ({ref.height}, {ref.width}).")
            profile.update(crs=ref.crs, transform=ref.transform)
    with warnings.catch_warnings():
        if like is None:  # no georeferencing is what was asked for
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
            # the colour map first: GDAL cannot set the palette interpretation once pixels are written
            dst.write_colormap(1, {k: (*map(int, c), 255) for k, c in enumerate(CLASS_COLOURS)})
            dst.set_band_description(1, "class")
            dst.write(mask.astype(np.uint8), 1)
    return path


def save_overlay_png(
    image: np.ndarray, mask: np.ndarray, path: str | os.PathLike, alpha: float = 0.5, rgb: Sequence[int] = (2, 1, 0)
) -> Path:
    """PNG of the image (bands ``rgb`` of a (C, H, W) array, 2-98 percentile stretch) with class colours blended in."""
    from PIL import Image

    image = np.asarray(image, dtype=np.float32)
    bands = [image[min(b, len(image) - 1)] for b in rgb]
    base = np.stack(bands, -1)
    lo, hi = np.percentile(base, 2), np.percentile(base, 98)
    base = np.clip((base - lo) / max(hi - lo, 1e-6), 0, 1) * 255
    mask = np.asarray(mask).squeeze().astype(np.int64)
    colours = CLASS_COLOURS[np.clip(mask, 0, len(CLASS_COLOURS) - 1)].astype(np.float32)
    blend = np.where((mask > 0)[..., None], (1 - alpha) * base + alpha * colours, base)
    with atomic_path(path) as tmp:
        Image.fromarray(blend.round().astype(np.uint8)).save(tmp, format="PNG")
    return Path(path)


class LoadGeoTIFFd(MapTransform):
    """Load ``image`` (GeoTIFF or ``.npy``) with band selection by name, and ``label`` (mask GeoTIFF or HKH ``.npy``).

    Adds ``band_names`` and ``image_path`` (the source, for writing outputs with its georeferencing).

    Args:
        bands: band names to keep, in order (None: all).
        band_names: names for files that carry none (HKH ``.npy`` slices: ``monai_pipelines.data.hkh.HKH_BANDS``).
        channel_classes: class of each channel of multi-channel ``.npy`` masks (0: channel unused); the default
            is the HKH layout, see :func:`labels_from_channels`.
        num_classes: refuse masks with values that are not class numbers (see :func:`read_label`; None: no check).

    A mask of another size than its image is refused in one line naming both.
    """

    def __init__(
        self,
        keys: KeysCollection = (Keys.IMAGE, Keys.LABEL),
        bands: Sequence[str] | None = None,
        band_names: Sequence[str] | None = None,
        channel_classes: Sequence[int] = HKH_CHANNEL_CLASSES,
        image_key: str = Keys.IMAGE,
        allow_missing_keys: bool = False,
        num_classes: int | None = None,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.bands = None if bands is None else list(bands)
        self.band_names = None if band_names is None else list(band_names)
        self.channel_classes = tuple(channel_classes)
        self.image_key = str(image_key)
        self.num_classes = num_classes

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        read = []
        for key in self.key_iterator(d):
            if not isinstance(d[key], (str, os.PathLike)):
                continue  # already loaded
            read.append((key, str(d[key])))
            if str(key) == self.image_key:
                d["image_path"] = str(d[key])
                d[key], meta = read_geotiff(d[key], self.bands, self.band_names)
                d["band_names"] = meta["band_names"]
            else:
                d[key] = read_label(d[key], self.channel_classes, self.num_classes)
        image = d.get(self.image_key)
        for key, path in read:
            if str(key) != self.image_key and hasattr(image, "shape") and d[key].shape[1:] != image.shape[1:]:
                raise InputError(f"{path}: mask size {tuple(d[key].shape[1:])} differs from the size "
                                 f"{tuple(image.shape[1:])} of its image {d.get('image_path', '')}.")
        return d


LoadGeoTIFFD = LoadGeoTIFFDict = LoadGeoTIFFd
