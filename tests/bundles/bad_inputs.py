"""A corpus of bad inputs, generated (no data is committed): each kind writes one file like a good one, but broken.

Every kind says what a pipeline must do with it: ``"error"`` (one line naming the file, nothing written) or
``"warn"`` (odd but valid: a warning, then correct output).
"""

from __future__ import annotations

import gzip
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

ERROR, WARN = "error", "warn"
SHAPE = (16, 16, 12)
SPACING = 2.0


def good_volume(seed: int = 0) -> np.ndarray:
    """A smooth positive 3D volume (not constant, finite)."""
    rng = np.random.default_rng(seed)
    x, y, z = np.meshgrid(*(np.linspace(-1, 1, n) for n in SHAPE), indexing="ij")
    return (100 + 50 * np.exp(-(x**2 + y**2 + z**2)) + rng.normal(0, 2, SHAPE)).astype(np.float32)


def write_nifti(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    nib.save(nib.Nifti1Image(data, np.diag([SPACING] * 3 + [1.0]) if affine is None else affine), str(path))
    return path


def _patched_header(path: Path, *patches: tuple) -> Path:
    """A good NIfTI-1 with header fields overwritten, ``(offset, struct format, *values)`` each (nibabel refuses
    to write such headers itself)."""
    plain = path.with_suffix("") if path.suffix == ".gz" else path
    write_nifti(plain, good_volume())
    raw = bytearray(plain.read_bytes())
    for offset, fmt, *values in patches:
        raw[offset:offset + struct.calcsize(fmt)] = struct.pack(fmt, *values)
    plain.write_bytes(bytes(raw))
    if plain != path:
        path.write_bytes(gzip.compress(bytes(raw)))
        plain.unlink()
    return path


def _sheared(path: Path) -> Path:
    affine = np.diag([SPACING] * 3 + [1.0])
    affine[0, 1] = 0.5
    return write_nifti(path, good_volume(), affine)


def _truncated(path: Path) -> Path:
    write_nifti(path, good_volume())
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return path


def _with(values: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], Path]:
    def write(path: Path) -> Path:
        return write_nifti(path, values(good_volume()))

    return write


def _sform(rows: np.ndarray) -> Callable[[Path], Path]:
    """The voxel-to-world affine given by the sform rows alone (qform off)."""
    def write(path: Path) -> Path:
        return _patched_header(path, (252, "<2h", 0, 2), (280, "<12f", *np.asarray(rows, float)[:3].ravel()))

    return write


def _set(data: np.ndarray, index: tuple, value: float) -> np.ndarray:
    data[index] = value
    return data


@dataclass(frozen=True)
class Kind:
    name: str
    write: Callable[[Path], Path]
    expect: str
    needle: str = ""  # words the one-line error must hold, besides the file name


# 3D NIfTI images (one channel)
NIFTI_KINDS = [
    Kind("empty file", lambda p: (p.write_bytes(b""), p)[1], ERROR, "empty"),
    Kind("truncated gzip", _truncated, ERROR, "truncated"),
    Kind("not NIfTI", lambda p: (p.write_bytes(b"this is not an image\n" * 20), p)[1], ERROR, "cannot be read"),
    Kind("missing file", lambda p: p, ERROR),
    Kind("2D image", lambda p: write_nifti(p, good_volume()[..., 0]), ERROR, "2D"),
    Kind("4D image, 2 channels", lambda p: write_nifti(p, np.stack([good_volume()] * 2, -1)), ERROR, "2 channels"),
    Kind("a NaN voxel", _with(lambda v: _set(v, (3, 3, 3), np.nan)), ERROR, "NaN"),
    Kind("all NaN", _with(lambda v: np.full_like(v, np.nan)), ERROR, "only NaN"),
    Kind("an Inf voxel", _with(lambda v: _set(v, (3, 3, 3), np.inf)), ERROR, "Inf"),
    Kind("complex voxels", _with(lambda v: (v + 1j * v).astype(np.complex64)), ERROR, "complex64"),
    Kind("zero voxel size", _sform(np.diag([SPACING, 0.0, SPACING, 1.0])), ERROR, "voxel size"),
    Kind("NaN in the affine", _sform(np.where(np.eye(4) > 0, np.nan, 0.0)), ERROR, "NaN or Inf"),
    Kind("negative pixdim beside a valid sform", lambda p: _patched_header(p, (80, "<3f", -2.0, 2.0, 2.0)), WARN),
    Kind("absurd header dimensions", lambda p: _patched_header(p, (42, "<3h", 30000, 30000, 30000)), ERROR,
         "cannot be read"),
    Kind("constant image", _with(lambda v: np.full_like(v, 7.0)), WARN, "constant"),
    Kind("sheared affine", _sheared, WARN, "not orthogonal"),
]


def write_geotiff(path: Path, bands: np.ndarray, names: list[str] | None = None, crs: str | None = "EPSG:32645"
                  ) -> Path:
    import rasterio
    from rasterio.transform import from_origin

    count, height, width = bands.shape
    profile = {"driver": "GTiff", "height": height, "width": width, "count": count, "dtype": "float32",
               "transform": from_origin(400000.0, 3100000.0, 30.0, 30.0)}
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(bands.astype(np.float32))
        for i, name in enumerate(names or [], start=1):
            dst.set_band_description(i, name)
    return path


def good_tile(names: list[str], size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(0, 1, (len(names), size, size)).astype(np.float32)


def geotiff_kinds(names: list[str], used: list[str]) -> list[Kind]:
    """Multi-band tiles with the band descriptions ``names``, of which a model reads ``used``."""
    def tile(values: Callable[[np.ndarray], np.ndarray], band_names: list[str] = names, crs: str | None = "EPSG:32645"):
        return lambda p: write_geotiff(p, values(good_tile(names)), band_names, crs)

    return [
        Kind("corrupt GeoTIFF", lambda p: (p.write_bytes(b"II*\x00" + b"\x00" * 64), p)[1], ERROR, "GeoTIFF"),
        Kind("missing bands", tile(lambda t: t[:3], names[:3]), ERROR, "not found"),
        Kind("all-NaN band", tile(lambda t: _set(t, (names.index(used[0]),), np.nan)), ERROR, "no finite value"),
        Kind("all-NaN tile", tile(lambda t: np.full_like(t, np.nan)), ERROR, "no finite value"),
        Kind("GeoTIFF missing", lambda p: p, ERROR),
        Kind("no CRS", tile(lambda t: t, crs=None), WARN, ""),
        Kind("some no-data pixels", tile(lambda t: _set(t, (slice(None), 0, 0), np.nan)), WARN, "non-finite"),
        Kind("constant band", tile(lambda t: _set(t, (names.index(used[-1]),), 3.0)), WARN, "constant"),
    ]


def write_mask(path: Path, labels: np.ndarray, dtype: str = "uint8") -> Path:
    """A single-band class-map GeoTIFF (the glacier bundle's ``label``)."""
    import rasterio
    from rasterio.transform import from_origin

    profile = {"driver": "GTiff", "height": labels.shape[0], "width": labels.shape[1], "count": 1, "dtype": dtype,
               "crs": "EPSG:32645", "transform": from_origin(400000.0, 3100000.0, 30.0, 30.0)}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(labels.astype(dtype), 1)
    return path


def good_mask(size: int = 32) -> np.ndarray:
    """Every one of the 4 glacier classes, in quarters."""
    return np.kron(np.array([[0, 1], [2, 3]], dtype=np.uint8), np.ones((size // 2, size // 2), dtype=np.uint8))


def mask_kinds(size: int = 32) -> list[tuple[Kind, str]]:
    """(kind, suffix) of class masks beside a good ``size`` x ``size`` tile: GeoTIFF class maps and HKH ``.npy``
    channel masks (H x W x 3)."""
    def mask(values: Callable[[np.ndarray], np.ndarray], dtype: str = "uint8") -> Callable[[Path], Path]:
        return lambda p: write_mask(p, values(good_mask(size)), dtype)

    channels = np.stack([good_mask(size) > 0, good_mask(size) == 1, good_mask(size) == 2], -1).astype(np.float32)
    return [
        (Kind("mask of another size", mask(lambda m: m[: size // 2]), ERROR, "size"), ".tif"),
        (Kind("mask label outside the classes", mask(lambda m: _set(m, (0, 0), 7)), ERROR, "class"), ".tif"),
        (Kind("mask of fractional labels", mask(lambda m: m + 0.5, "float32"), ERROR, "class"), ".tif"),
        (Kind("NaN in the mask", mask(lambda m: _set(m.astype(np.float32), (0, 0), np.nan), "float32"), ERROR,
              "NaN"), ".tif"),
        (Kind("corrupt mask", lambda p: (p.write_bytes(b"II*\x00" + b"\x00" * 64), p)[1], ERROR, "GeoTIFF"), ".tif"),
        (Kind("mask missing", lambda p: p, ERROR), ".tif"),
        (Kind(".npy mask with NaN", _npy(lambda m: _set(m, (0, 0, 1), np.nan), channels), ERROR, "NaN"), ".npy"),
        (Kind(".npy mask of the wrong shape", _npy(lambda m: m[None, None], channels), ERROR, "shape"), ".npy"),
        (Kind("not an .npy mask", lambda p: (p.write_bytes(b"\x93NUMPY broken"), p)[1], ERROR, ".npy"), ".npy"),
    ]


def npy_kinds(channels: int) -> list[Kind]:
    """H x W x C slices as ``.npy`` (HKH slices, the glacier bundle also reads them)."""
    good = np.random.default_rng(0).normal(0, 1, (32, 32, channels)).astype(np.float32)
    return [
        Kind(".npy of the wrong shape", lambda p: (np.save(p, good[None, None]), p)[1], ERROR, "shape"),
        Kind(".npy all NaN", lambda p: (np.save(p, np.full_like(good, np.nan)), p)[1], ERROR, "no finite value"),
        Kind("not an .npy", lambda p: (p.write_bytes(b"\x93NUMPY broken"), p)[1], ERROR, ""),
    ]


# manifest edits: (name, edit(manifest dict) -> manifest dict or raw text, needle)
def _first_item(m: dict) -> dict:
    return m["training"][0]


def path_keys(item: dict) -> list[str]:
    """The keys of a manifest item that hold file paths."""
    return [k for k, v in item.items() if isinstance(v, str) and v.endswith((".nii.gz", ".nii", ".tif", ".npy"))]


def _repath(m: dict, path: str) -> dict:
    _first_item(m)[path_keys(_first_item(m))[0]] = path
    return m


def _json(m: dict) -> str:
    return json.dumps(m)


MANIFEST_KINDS: list[tuple[str, Callable[[dict], dict | str], str]] = [
    ("manifest not JSON", lambda m: _json(m)[:-20], "not valid JSON"),
    ("item without subject", lambda m: (_first_item(m).pop("subject"), m)[1], "'subject' is a required property"),
    ("absolute path", lambda m: _repath(m, "/abs/x.nii.gz"), "absolute path"),
    ("path escaping dataset_dir", lambda m: _repath(m, "../outside/x.nii.gz"), "escapes dataset_dir"),
    ("duplicate item", lambda m: (m["training"].append(dict(_first_item(m))), m)[1], "duplicate item"),
    ("subject in two splits", lambda m: (m["test"].append(dict(_first_item(m), fold=-1)), m)[1], "splits"),
    ("empty validation split", lambda m: (m.update(validation=[]), m)[1], "validation"),
]


def _npy(values: Callable[[np.ndarray], np.ndarray], good: np.ndarray) -> Callable[[Path], Path]:
    def write(path: Path) -> Path:
        np.save(path, values(good.copy()))
        return path

    return write


def slice_kinds(channels: int = 3, size: int = 32) -> list[Kind]:
    """Channel-first C x H x W ``.npy`` slices (the MM-GAN bundle's prepared IXI slices)."""
    good = np.random.default_rng(0).normal(0, 1, (channels, size, size)).astype(np.float32)
    return [
        Kind("empty .npy", lambda p: (p.write_bytes(b""), p)[1], ERROR, "empty"),
        Kind("not an .npy", lambda p: (p.write_bytes(b"\x93NUMPY broken"), p)[1], ERROR, "cannot be read"),
        Kind(".npy missing", lambda p: p, ERROR, "not found"),
        Kind("slice of the wrong shape", _npy(lambda s: s.transpose(1, 2, 0)[None, None], good), ERROR, "channels"),
        Kind("slice with a channel too few", _npy(lambda s: s[:-1], good), ERROR, f"{channels - 1} channels"),
        Kind("3D array", _npy(lambda s: np.stack([s] * 4, -1), good), ERROR, "3D"),
        Kind("slice with a NaN", _npy(lambda s: _set(s, (0, 3, 3), np.nan), good), ERROR, "NaN"),
        Kind("all-NaN slice", _npy(lambda s: np.full_like(s, np.nan), good), ERROR, "only NaN"),
        Kind("slice with an Inf", _npy(lambda s: _set(s, (0, 3, 3), -np.inf), good), ERROR, "Inf"),
        Kind("complex slice", _npy(lambda s: (s + 1j * s).astype(np.complex64), good), ERROR, "complex64"),
        Kind("slice of another size", _npy(lambda s: s[:, : size // 2, : size // 2], good), ERROR, "size"),
        Kind("constant slice", _npy(lambda s: np.full_like(s, 0.5), good), WARN, "constant"),
    ]
