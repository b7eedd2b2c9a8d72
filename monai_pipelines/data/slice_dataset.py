"""2D slices of paired 3D volumes through a per-volume index and a decoded-slice cache (pix2pix on axial CT slices).

MONAI's ``PatchDataset``/``GridPatchDataset`` load every volume up front and know nothing of invalid slices; this
dataset learns once per volume its shape and which slices are usable (finite, not constant in either volume) into
a small JSON file keyed by the files' paths, sizes and modification times. Shuffled slices over many compressed
volumes would decode a whole volume for nearly every slice, so by default each volume is decoded once, ever: its
slices, windowed and resized, go to an uncompressed ``.npy`` file (slice axis first, C order, written atomically,
keyed by path, size, mtime and the preprocessing settings) that is memory-mapped, so reading a slice reads its
pages only. Corrupted volumes and shape mismatches raise one line, or with ``skip_corrupted`` are skipped; both
are counted in :attr:`report`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch
from monai.transforms import Resize
from monai.utils import convert_to_tensor
from torch.utils.data import Dataset

from monai_pipelines.transforms.hu_window import HUWindow
from monai_pipelines.transforms.robust_load import CorruptedImageError
from monai_pipelines.utils.enums import Keys
from monai_pipelines.utils.paths import cache_dir as default_cache_dir

logger = logging.getLogger("monai_pipelines")

INDEX_VERSION = 1
SLICE_CACHE_VERSION = 1


def read_volume(path: str | os.PathLike) -> np.ndarray:
    """A NIfTI volume as float32 (as stored, no reorientation); one-line errors for missing/unreadable files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        data = np.asarray(nib.load(str(path)).get_fdata(dtype=np.float32))
    except Exception as e:
        raise CorruptedImageError(path, f"cannot be read as a NIfTI volume ({type(e).__name__}: {e})") from None
    if data.ndim == 4 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise CorruptedImageError(path, f"expected a 3D volume, got shape {data.shape}")
    return data


def valid_slices(condition: np.ndarray, target: np.ndarray, axis: int = -1) -> tuple[list[int], dict[str, int]]:
    """Indices along ``axis`` where both slices are finite and not constant; counts of the rejected ones."""
    other = tuple(i for i in range(condition.ndim) if i != axis % condition.ndim)
    finite = np.isfinite(condition).all(axis=other) & np.isfinite(target).all(axis=other)
    with warnings.catch_warnings():  # all-NaN slices are counted as non-finite
        warnings.simplefilter("ignore", RuntimeWarning)
        varying = (np.nanmax(condition, axis=other) > np.nanmin(condition, axis=other)) & (
            np.nanmax(target, axis=other) > np.nanmin(target, axis=other)
        )
    valid = finite & varying
    return [int(i) for i in np.flatnonzero(valid)], {"nan": int((~finite).sum()), "constant": int((finite & ~varying).sum())}


class VolumeSliceDataset(Dataset):
    """Slices of paired volumes as ``{condition, target: (1, S, S) in [-1, 1], subject, slice}`` items.

    Args:
        data: items with ``condition_key`` / ``target_key`` paths (e.g. ``datalist(...)``) and ``subject``.
        spatial_size: slices resized to ``(S, S)`` (MONAI ``Resize``, bilinear); None keeps the size.
        hu_min, hu_max: HU window mapped to [-1, 1] (clipped), as :class:`HUWindow`.
        axis: slicing axis of the stored array (-1: axial for the usual NIfTI layout).
        skip_corrupted: skip unreadable volumes and mismatched pairs (logged, counted) instead of raising.
        cache_dir: where the index files and slice caches go (default: the package cache, ``slice_index/``).
        cache_volumes: pairs kept in memory (per worker process) when ``slice_cache`` is off.
        slice_cache: keep each volume's prepared slices in a memory-mapped ``.npy`` file in ``cache_dir``
            (float32, ``n_slices x S x S`` per volume file); off, volumes are decoded again whenever they have
            left the in-memory cache of ``cache_volumes`` pairs.
        transform: applied to each item dict after windowing and resizing (e.g. MONAI ``RandFlipd``).
    """

    def __init__(
        self,
        data: Sequence[dict[str, Any]],
        spatial_size: int | None = 256,
        hu_min: float = -1024.0,
        hu_max: float = 3071.0,
        axis: int = -1,
        condition_key: str = Keys.CONDITION,
        target_key: str = Keys.TARGET,
        skip_corrupted: bool = False,
        cache_dir: str | os.PathLike | None = None,
        cache_volumes: int = 2,
        transform: Callable | None = None,
        slice_cache: bool = True,
    ) -> None:
        self.condition_key, self.target_key = condition_key, target_key
        self.axis = axis
        self.skip_corrupted = skip_corrupted
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir("slice_index")
        self.cache_volumes = max(1, int(cache_volumes))
        self.transform = transform
        self.slice_cache = bool(slice_cache)
        self.spatial_size = None if spatial_size is None else int(spatial_size)
        self.hu_window = (float(hu_min), float(hu_max))
        self.window = HUWindow(hu_min, hu_max, -1.0, 1.0, clip=True)
        self.resize = None if spatial_size is None else Resize((int(spatial_size),) * 2, mode="bilinear")
        self.report: dict[str, Any] = {"volumes": 0, "volumes_skipped": 0, "slices": 0,
                                       "slices_skipped": {"nan": 0, "constant": 0}, "skipped": []}
        self.volumes: list[dict[str, Any]] = []
        for item in data:
            entry = self._index(item)
            if entry is not None:
                self.volumes.append(entry)
        self._offsets = np.cumsum([0] + [len(v["valid"]) for v in self.volumes]).tolist()
        self.report["volumes"] = len(self.volumes)
        self.report["slices"] = self._offsets[-1]
        self._loaded: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._mapped: dict[str, np.ndarray] = {}
        if self.report["volumes_skipped"] or any(self.report["slices_skipped"].values()):
            logger.warning(f"slice dataset: {self.report_line()}")

    def report_line(self) -> str:
        r = self.report
        return (f"{r['volumes']} volume pairs, {r['slices']} slices; skipped {r['volumes_skipped']} pairs, "
                f"{r['slices_skipped']['nan']} non-finite and {r['slices_skipped']['constant']} constant slices")

    # ---- index -------------------------------------------------------------------------------------
    def _index_file(self, cond: Path, targ: Path) -> Path:
        parts = [INDEX_VERSION, self.axis]
        for p in (cond, targ):
            st = p.stat()
            parts += [str(p.resolve()), st.st_size, st.st_mtime_ns]
        key = hashlib.sha1(json.dumps(parts).encode()).hexdigest()[:20]
        return self.cache_dir / f"{key}.json"

    def _index(self, item: dict[str, Any]) -> dict[str, Any] | None:
        cond, targ = Path(item[self.condition_key]), Path(item[self.target_key])
        subject = str(item.get(Keys.SUBJECT, cond.name))
        try:
            for p in (cond, targ):
                if not p.is_file():
                    raise FileNotFoundError(f"{p}: file not found")
            index_file = self._index_file(cond, targ)
            decoded: dict[Path, np.ndarray] = {}
            if index_file.is_file():
                entry = json.loads(index_file.read_text())
            else:
                c, t = decoded[cond], decoded[targ] = read_volume(cond), read_volume(targ)
                if c.shape != t.shape:
                    raise ValueError(f"{cond} and {targ}: pair has different shapes {c.shape} and {t.shape}.")
                valid, rejected = valid_slices(c, t, self.axis)
                entry = {"shape": list(c.shape), "valid": valid, "rejected": rejected}
                self._write_index(index_file, entry)
            if self.slice_cache:
                for p in (cond, targ):
                    if not self._slice_file(p).is_file():
                        self._write_slices(p, decoded[p] if p in decoded else read_volume(p))
        except (FileNotFoundError, ValueError) as e:  # CorruptedImageError is a ValueError
            if not self.skip_corrupted:
                raise
            logger.warning("skipping %s: %s", subject, e)
            self.report["volumes_skipped"] += 1
            self.report["skipped"].append({"subject": subject, "reason": str(e)})
            return None
        for k, n in entry["rejected"].items():
            self.report["slices_skipped"][k] += n
        return {"subject": subject, "condition": str(cond), "target": str(targ), **entry}

    def _write_index(self, path: Path, entry: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(entry, f)
        os.replace(tmp, path)

    # ---- decoded-slice cache -----------------------------------------------------------------------
    def _slice_file(self, path: Path) -> Path:
        """Cache file of one volume's prepared slices, keyed by the file and every setting that shapes them."""
        st = path.stat()
        parts = [SLICE_CACHE_VERSION, str(path.resolve()), st.st_size, st.st_mtime_ns, self.axis,
                 self.hu_window, self.spatial_size]
        key = hashlib.sha1(json.dumps(parts).encode()).hexdigest()[:20]
        return self.cache_dir / f"{key}.slices.npy"

    def _write_slices(self, path: Path, volume: np.ndarray) -> None:
        """Every slice along ``axis`` prepared as in :meth:`prepare_slice`, one after another (atomic write)."""
        slices = np.moveaxis(volume, self.axis, 0)
        target = self._slice_file(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
        try:
            first = self.prepare_slice(slices[0]).numpy()
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(slices), *first.shape))
            out[0] = first
            for k in range(1, len(slices)):
                out[k] = self.prepare_slice(slices[k]).numpy()
            out.flush()
            del out
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    def _mapped_slices(self, path: str) -> np.ndarray:
        """The memory-mapped slice cache of volume file ``path`` (opened once per process)."""
        if path not in self._mapped:
            file = self._slice_file(Path(path))
            if not file.is_file():  # removed since the index was built: write it again
                self._write_slices(Path(path), read_volume(path))
            self._mapped[path] = np.load(file, mmap_mode="r")
        return self._mapped[path]

    def __getstate__(self) -> dict[str, Any]:
        """Pickled for DataLoader workers without the decoded volumes and open memory maps."""
        state = self.__dict__.copy()
        state["_loaded"], state["_mapped"] = OrderedDict(), {}
        return state

    # ---- items -------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._offsets[-1]

    def locate(self, index: int) -> tuple[int, int]:
        """(volume number, slice index along ``axis``) of dataset item ``index``."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"slice {index} out of range for {len(self)} slices")
        index %= len(self)
        v = bisect_right(self._offsets, index) - 1
        return v, self.volumes[v]["valid"][index - self._offsets[v]]

    def _pair(self, v: int) -> tuple[np.ndarray, np.ndarray]:
        if v in self._loaded:
            self._loaded.move_to_end(v)
        else:
            vol = self.volumes[v]
            self._loaded[v] = (read_volume(vol["condition"]), read_volume(vol["target"]))
            while len(self._loaded) > self.cache_volumes:
                self._loaded.popitem(last=False)
        return self._loaded[v]

    def prepare_slice(self, hu_slice: np.ndarray | torch.Tensor) -> torch.Tensor:
        """A 2D HU slice -> (1, S, S) network input in [-1, 1] (window then resize)."""
        x = self.window(torch.as_tensor(np.asarray(hu_slice, dtype=np.float32))[None])
        if self.resize is not None:
            x = self.resize(x)
        return convert_to_tensor(x, dtype=torch.float32, track_meta=False)

    def _prepared(self, v: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        vol = self.volumes[v]
        if self.slice_cache:
            return tuple(torch.from_numpy(np.array(self._mapped_slices(vol[key])[k])) for key in ("condition", "target"))
        # basic indexing is a view; np.take on nibabel's column-major array copied the whole volume per slice
        return tuple(self.prepare_slice(np.moveaxis(x, self.axis, 0)[k]) for x in self._pair(v))

    def __getitem__(self, index: int) -> dict[str, Any]:
        v, k = self.locate(index)
        cond, targ = self._prepared(v, k)
        item = {
            self.condition_key: cond,
            self.target_key: targ,
            Keys.SUBJECT.value: self.volumes[v]["subject"],
            "slice": k,
        }
        return self.transform(item) if self.transform is not None else item
