"""Image loading that fails with one clear line (file: problem) or skips bad images with a logged reason.

Ours because MONAI's LoadImage lets reader exceptions through as multi-line tracebacks (or loads NaN, empty and
wrong-dimension images silently), while our pipelines must name the file and the problem, or skip and count it.
"""

from __future__ import annotations

import gzip
import logging
import zlib
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import LoadImage, MapTransform, Transform

from monai_pipelines.utils.errors import InputError

__all__ = [
    "CorruptedImageError",
    "RobustLoadImage",
    "RobustLoadImageD",
    "RobustLoadImageDict",
    "RobustLoadImaged",
    "check_image",
    "filter_loadable",
]

logger = logging.getLogger("monai_pipelines")

_MAX_DETAIL = 160
_NIFTI_NOT_REAL = {1: "binary", 32: "complex64", 128: "RGB24", 1792: "complex128", 2048: "complex256", 2304: "RGBA32"}


class CorruptedImageError(InputError):
    """An image file that cannot be used; ``str(err)`` is the one sentence ``"<file>: <problem>"``."""

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else str(path)
        self.problem = " ".join(str(problem).split())  # one line, whatever the reader said
        super().__init__(f"{self.path or '<array>'}: {self.problem}")


def _one_line(exc: BaseException) -> str:
    """First line of an exception message, shortened, with the exception type."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _gzip_damage(path: Path) -> str | None:
    """If `path` is gzip-compressed but its stream is broken, say how (only called after a read failed)."""
    try:
        with open(path, "rb") as f:
            if f.read(2) != b"\x1f\x8b":
                return None
        with gzip.open(path, "rb") as f:
            while f.read(1 << 24):
                pass
    except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as e:
        return f"truncated or corrupted compressed data ({_one_line(e)})"
    return None


def _describe_read_error(path: Path, exc: BaseException) -> str:
    """A short, human description of why the reader failed."""
    if path.is_file() and (damage := _gzip_damage(path)):
        return damage
    chain, cur = [], exc
    while cur is not None and len(chain) < 8:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    if any(isinstance(e, (EOFError, zlib.error, gzip.BadGzipFile)) for e in chain):
        if any("not a gzip file" in str(e).lower() for e in chain):
            return f"not a gzip file, cannot be read as an image ({_one_line(exc)})"
        return f"truncated or corrupted compressed data ({_one_line(exc)})"
    msg = " ".join(str(e).lower() for e in chain)
    if "not a gzip file" in msg:
        return f"not a gzip file, cannot be read as an image ({_one_line(exc)})"
    if "empty file" in msg:
        return "empty file (0 bytes)"
    return f"cannot be read as an image ({_one_line(exc)})"


def check_image(
    array: Any,
    path: str | Path | None = None,
    spatial_dims: int | None = 3,
    allow_constant: bool = True,
    channel_dim: int | None = None,
    num_channels: int | None = None,
) -> None:
    """Raise :class:`CorruptedImageError` if `array` is empty, has NaN/Inf, the wrong number of spatial dims or
    channels, or (a MetaTensor) a voxel-to-world affine that is not finite or has a zero voxel size; a sheared
    affine only logs a warning (the pipelines resample in world coordinates).

    Args:
        array: numpy array or tensor, spatial dims only unless `channel_dim` names the channel axis.
        spatial_dims: required number of spatial dimensions (size-1 axes do not count); None skips the check.
        allow_constant: a constant image only logs a warning; False makes it an error.
        num_channels: required number of channels along `channel_dim` (None: any).
    """
    arr = array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
    if arr.size == 0:
        raise CorruptedImageError(path, f"image is empty (shape {tuple(arr.shape)})")
    shape = list(arr.shape)
    if channel_dim is not None:
        channels = shape.pop(channel_dim)
        if num_channels is not None and channels != num_channels:
            raise CorruptedImageError(path, f"image has {channels} channels (shape {tuple(arr.shape)}), expected "
                                            f"{num_channels}")
    if spatial_dims is not None:
        real = [s for s in shape if s > 1]
        if len(shape) < spatial_dims or len(real) != spatial_dims:
            raise CorruptedImageError(
                path,
                f"image is {len(real)}D (spatial shape {tuple(shape)}), expected {spatial_dims}D",
            )
    if np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.complexfloating):
        finite = np.isfinite(arr)
        if not finite.all():
            n_nan = int(np.isnan(arr).sum())
            n_inf = int(arr.size - finite.sum() - n_nan)
            if n_nan == arr.size:
                raise CorruptedImageError(path, "image contains only NaN values")
            raise CorruptedImageError(path, f"image contains {n_nan} NaN and {n_inf} Inf values of {arr.size}")
    stored = _NIFTI_NOT_REAL.get(int(getattr(array, "meta", {}).get("datatype", 0) or 0))
    if stored or arr.dtype.kind not in "iuf":  # the reader casts to float: the file's own voxel type tells
        raise CorruptedImageError(path, f"voxel type {stored or arr.dtype} is not a real-valued image")
    _check_affine(getattr(array, "affine", None), path)
    lo, hi = arr.min(), arr.max()
    if lo == hi:
        if not allow_constant:
            raise CorruptedImageError(path, f"image is constant (every voxel is {lo})")
        logger.warning("%s: image is constant (every voxel is %s)", path or "<array>", lo)


def _declared_affine(filename: Any) -> np.ndarray | None:
    """The voxel-to-world affine a NIfTI file's header declares (header only), None for other files. A second,
    header-only read: the reader's metadata cannot tell, it rewrites srow_* from the affine it substituted."""
    if not isinstance(filename, (str, Path)) or not str(filename).endswith((".nii", ".nii.gz")):
        return None
    import nibabel as nib

    try:
        return np.asarray(nib.load(str(filename)).header.get_best_affine(), dtype=float)
    except Exception as e:  # noqa: BLE001 - any header failure is the file's problem
        raise CorruptedImageError(filename, f"unusable voxel-to-world affine in the header ({_one_line(e)})") from e


def _check_npy_dtype(filename: Any) -> None:
    """A ``.npy`` file's stored voxel type must be real: the reader casts complex values to float silently."""
    if not isinstance(filename, (str, Path)) or not str(filename).endswith(".npy"):
        return
    dtype = np.load(filename, mmap_mode="r", allow_pickle=False).dtype
    if dtype.kind not in "biuf":
        raise CorruptedImageError(filename, f"voxel type {dtype} is not a real-valued image")


def _check_affine(affine: Any, path: str | Path | None) -> None:
    if affine is None:
        return
    a = np.asarray(affine.detach().cpu() if isinstance(affine, torch.Tensor) else affine, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 3:
        return
    if not np.isfinite(a).all():
        raise CorruptedImageError(path, "the voxel-to-world affine holds NaN or Inf values")
    rotation = a[:-1, :-1]
    zooms = np.linalg.norm(rotation, axis=0)
    if (zooms < 1e-6).any():
        raise CorruptedImageError(path, f"voxel size {np.round(zooms, 6).tolist()} mm: a voxel size is zero")
    directions = rotation / zooms
    shear = float(np.abs(directions.T @ directions - np.eye(len(zooms))).max())
    if shear > 1e-3:
        logger.warning("%s: the voxel axes are not orthogonal (sheared affine, %.3g); it is resampled in world "
                       "coordinates", path or "<array>", shear)


class RobustLoadImage(Transform):
    """``monai.transforms.LoadImage`` plus :func:`check_image`; bad files raise one line or are skipped.

    Args:
        spatial_dims: required number of spatial dimensions (None: any).
        skip_corrupted: log the reason (logger ``monai_pipelines``) and return None instead of raising.
        allow_constant: see :func:`check_image`.
        kwargs: passed to ``LoadImage`` (e.g. ``dtype``, ``simple_keys``).
    """

    def __init__(
        self,
        spatial_dims: int | None = 3,
        ensure_channel_first: bool = True,
        image_only: bool = True,
        reader: Any = None,
        skip_corrupted: bool = False,
        allow_constant: bool = True,
        num_channels: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.loader = LoadImage(reader=reader, image_only=image_only, ensure_channel_first=ensure_channel_first, **kwargs)
        self.num_channels = num_channels
        self.spatial_dims = spatial_dims
        self.ensure_channel_first = ensure_channel_first
        self.image_only = image_only
        self.skip_corrupted = skip_corrupted
        self.allow_constant = allow_constant
        self.skipped: list[tuple[str, str]] = []

    @property
    def num_skipped(self) -> int:
        return len(self.skipped)

    def load(self, filename: str | Path) -> Any:
        """Load and check `filename`; always raises on a bad file (FileNotFoundError or CorruptedImageError)."""
        if isinstance(filename, (list, tuple)):  # a series of files: check each exists, let the reader stack them
            for f in filename:
                self._check_file(Path(f))
        else:
            self._check_file(Path(filename))
        try:
            out = self.loader(filename)
        except (FileNotFoundError, CorruptedImageError):
            raise
        except Exception as e:  # any reader failure becomes one line naming the file
            raise CorruptedImageError(filename, _describe_read_error(Path(str(filename)), e)) from e
        img = out if self.image_only else out[0]
        _check_affine(_declared_affine(filename), filename)  # readers may replace a broken one silently
        _check_npy_dtype(filename)
        if self.ensure_channel_first:
            channel_dim: int | None = 0
        else:
            cd = getattr(img, "meta", {}).get("original_channel_dim", None)
            channel_dim = cd if isinstance(cd, int) and not isinstance(cd, bool) else None
        check_image(img, filename, self.spatial_dims, self.allow_constant, channel_dim,
                    self.num_channels if channel_dim is not None else None)
        return out

    @staticmethod
    def _check_file(path: Path) -> None:
        if not path.exists():
            raise FileNotFoundError(f"{path}: file not found")
        if path.is_file() and path.stat().st_size == 0:
            raise CorruptedImageError(path, "empty file (0 bytes)")

    def __call__(self, filename: str | Path) -> Any:
        try:
            return self.load(filename)
        except (FileNotFoundError, CorruptedImageError) as e:
            if not self.skip_corrupted:
                raise
            self.skipped.append((str(filename), str(e)))
            logger.warning("skipping %s", e)
            return None


class RobustLoadImaged(MapTransform):
    """Dictionary version of :class:`RobustLoadImage`; when skipping, a bad image makes the whole item None."""

    def __init__(
        self,
        keys: KeysCollection,
        spatial_dims: int | None = 3,
        ensure_channel_first: bool = True,
        image_only: bool = True,
        reader: Any = None,
        skip_corrupted: bool = False,
        allow_constant: bool = True,
        allow_missing_keys: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.loader = RobustLoadImage(
            spatial_dims, ensure_channel_first, image_only, reader, False, allow_constant, **kwargs
        )
        self.skip_corrupted = skip_corrupted
        self.skipped: list[tuple[Any, str]] = []

    @property
    def num_skipped(self) -> int:
        """Items skipped so far by this instance (per process: DataLoader workers count separately)."""
        return len(self.skipped)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any] | None:
        d = dict(data)
        try:
            for key in self.key_iterator(d):
                out = self.loader.load(d[key])
                if self.loader.image_only:
                    d[key] = out
                else:
                    d[key], d[f"{key}_meta_dict"] = out
        except (FileNotFoundError, CorruptedImageError) as e:
            if not self.skip_corrupted:
                raise
            self.skipped.append((dict(data), str(e)))
            logger.warning("skipping item %s", e)
            return None
        return d


RobustLoadImageD = RobustLoadImageDict = RobustLoadImaged


def _spatial_shape(image: Any, num_channels: int | None) -> tuple[int, ...]:
    return tuple(image.shape[1:] if num_channels is not None else image.shape)


def _check_same_shape(shape: tuple[int, ...], path: Path, first: tuple[tuple[int, ...], Path]) -> None:
    if shape != first[0]:
        raise CorruptedImageError(path, f"image size {shape} differs from the size {first[0]} of the first item "
                                        f"({first[1].name})")


def _naming_subject(err: FileNotFoundError | InputError, item: Mapping) -> Exception:
    """``err`` with the item's subject added to its one line (unchanged when the item has none)."""
    subject = item.get("subject") if isinstance(item, Mapping) else None
    if subject is None:
        return err
    if isinstance(err, CorruptedImageError):
        return CorruptedImageError(err.path, f"{err.problem} (subject {subject})")
    return type(err)(f"{str(err).rstrip('.')} (subject {subject})")


def _item_paths(item: Mapping, keys: Sequence[str], base_dir: str | Path | None) -> dict[str, Path]:
    """The paths of the images of ``keys`` an item has, resolved against ``base_dir``."""
    paths = {key: Path(item[key]) for key in keys if item.get(key)}
    return {k: p if base_dir is None or p.is_absolute() else Path(base_dir) / p for k, p in paths.items()}


def filter_loadable(
    datalist: Sequence[Mapping[Hashable, Any]],
    keys: KeysCollection,
    spatial_dims: int | None = 3,
    base_dir: str | Path | None = None,
    allow_constant: bool = True,
    allow_missing_keys: bool = False,
    reader: Any = None,
    num_channels: int | None = None,
    strict: bool = False,
    same_shape: bool = False,
    load: Callable[[dict], Any] | None = None,
    remember: bool = False,
) -> tuple[list[Mapping[Hashable, Any]], list[tuple[Mapping[Hashable, Any], str]]]:
    """Pre-screen a datalist by loading and checking every image of `keys`; returns (good items, [(item, reason)]).

    Relative paths are resolved against `base_dir`. The skipped count is logged, so training can report it.
    With ``num_channels`` the images are loaded channel-first and must have that many channels; ``strict`` raises
    the first bad file's error, naming the item's subject, instead of skipping (an empty entry counts as missing
    under ``allow_missing_keys``). ``same_shape``: every image of a key must have the spatial size of the first
    usable one (data batched without resizing, such as prepared slices). ``load``: the dictionary transform that
    reads an item's images instead (formats MONAI's readers do not know, e.g. ``LoadGeoTIFFd``), its
    ``InputError`` the reason; it checks what it reads, the other arguments about reading are not used.
    ``remember``: files that passed these checks before and are unchanged since are not read again, and those that
    pass now are remembered (:class:`~monai_pipelines.data.screened_files.ScreenedFiles`).
    """
    keys = [keys] if isinstance(keys, str) else list(keys)
    loader = RobustLoadImage(spatial_dims, num_channels is not None, True, reader, False, allow_constant,
                             num_channels)
    good: list[Mapping[Hashable, Any]] = []
    skipped: list[tuple[Mapping[Hashable, Any], str]] = []
    first: dict[str, tuple[tuple[int, ...], Path]] = {}
    screened = None
    if remember:
        from monai_pipelines.data.screened_files import ScreenedFiles

        screened = ScreenedFiles([spatial_dims, allow_constant, reader, num_channels, load])
    for item in datalist:
        reason = None
        paths = _item_paths(item, keys, base_dir)
        for key in keys:
            if not item.get(key):
                if not allow_missing_keys:
                    reason = f"item has no key {key!r}"
                    if strict:
                        raise InputError(f"item (subject {item.get('subject', '?')}) has no {key!r} image.")
                    break
                continue
            if load is not None:
                continue
            path = paths[key]
            known = screened.shape([path]) if screened is not None else None
            try:
                if known is None:
                    shape = _spatial_shape(loader.load(path), num_channels)
                    if screened is not None:
                        screened.passed([path], shape)
                else:
                    shape = tuple(known)
                if same_shape:
                    _check_same_shape(shape, path, first.setdefault(key, (shape, path)))
            except (FileNotFoundError, CorruptedImageError) as e:
                if strict:
                    raise _naming_subject(e, item) from e
                reason = str(e)
                break
        if reason is None and load is not None:
            try:
                if screened is None or screened.shape(list(paths.values())) is None:
                    load({**item, **{key: str(path) for key, path in paths.items()}})
                    if screened is not None:
                        screened.passed(list(paths.values()))
            except (FileNotFoundError, InputError) as e:
                if strict:
                    raise _naming_subject(e, item) from e
                reason = str(e)
        if reason is None:
            good.append(item)
        else:
            skipped.append((item, reason))
            subject = item.get("subject", "?") if isinstance(item, Mapping) else "?"
            logger.warning("skipping item (subject %s): %s", subject, reason)
    if screened is not None:
        screened.save()
    if skipped:
        logger.warning("%d of %d items skipped, %d used (unusable images)", len(skipped), len(datalist), len(good))
    return good, skipped
