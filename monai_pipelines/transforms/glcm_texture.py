"""GLCM texture channels (contrast, dissimilarity, homogeneity, ASM, energy, correlation) for every pixel, fast.

Neither MONAI nor scikit-image computes per-pixel GLCM features: ``skimage.feature.graycomatrix`` over a sliding
window is a Python loop over pixels (seconds per small tile). Here each feature is a box sum over the window of a
per-pair quantity (integral images, fully vectorised), identical to skimage's symmetric, normalised GLCM of the
window; ASM/energy use one box sum per grey-level pair (levels**2 / 2 of them).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform

from monai_pipelines.utils.enums import Keys

__all__ = ["GLCM_FEATURES", "GLCMTexture", "GLCMTextured", "GLCMTextureD", "GLCMTextureDict", "glcm_features"]

GLCM_FEATURES = ("contrast", "dissimilarity", "homogeneity", "ASM", "energy", "correlation")


def _box_sum(a: np.ndarray, kh: int, kw: int) -> np.ndarray:
    """Sums of every kh x kw window (valid mode) via an integral image."""
    s = np.zeros((a.shape[0] + 1, a.shape[1] + 1), dtype=np.float64)
    s[1:, 1:] = a.cumsum(0).cumsum(1)
    return s[kh:, kw:] - s[:-kh, kw:] - s[kh:, :-kw] + s[:-kh, :-kw]


def quantise(band: np.ndarray, levels: int, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Integer grey levels 0..levels-1 from a float band (range: given, else the 1st-99th percentiles)."""
    lo, hi = value_range if value_range is not None else np.percentile(band, (1, 99))
    scaled = (np.asarray(band, dtype=np.float64) - lo) / max(hi - lo, 1e-12)
    return np.clip(np.floor(scaled * levels), 0, levels - 1).astype(np.int64)


def glcm_features(
    q: np.ndarray, window: int = 7, offset: tuple[int, int] = (0, 1), levels: int = 16,
    features: Sequence[str] = ("contrast", "homogeneity"),
) -> np.ndarray:
    """(F, H, W) features of the symmetric normalised GLCM in the ``window`` x ``window`` box around each pixel.

    Args:
        q: (H, W) integer grey levels in [0, levels) (see :func:`quantise`); borders use reflected padding.
        offset: (row, col) displacement, non-negative, e.g. (0, 1) = skimage distance 1, angle 0.
    """
    unknown = set(features) - set(GLCM_FEATURES)
    if unknown:
        raise ValueError(f"unknown GLCM feature(s) {sorted(unknown)}; known: {list(GLCM_FEATURES)}.")
    if window < 2 or window % 2 == 0:
        raise ValueError(f"window must be an odd size >= 3, got {window}.")
    dy, dx = offset
    h = window // 2
    p = np.pad(q, h, mode="reflect").astype(np.float64)
    a, b = p[: p.shape[0] - dy, : p.shape[1] - dx], p[dy:, dx:]
    kh, kw = window - dy, window - dx  # pairs whose both pixels lie in the window
    n = kh * kw

    def mean_of(x: np.ndarray) -> np.ndarray:
        return _box_sum(x, kh, kw) / n

    out = []
    diff = a - b
    cache: dict[str, np.ndarray] = {}
    for name in features:
        if name == "contrast":
            out.append(mean_of(diff**2))
        elif name == "dissimilarity":
            out.append(mean_of(np.abs(diff)))
        elif name == "homogeneity":
            out.append(mean_of(1.0 / (1.0 + diff**2)))
        elif name in ("ASM", "energy"):
            if "ASM" not in cache:
                ai, bi = a.astype(np.int64), b.astype(np.int64)
                lo, hi = np.minimum(ai, bi), np.maximum(ai, bi)
                asm = np.zeros_like(mean_of(diff))
                for i in range(levels):
                    for j in range(i, levels):
                        c = _box_sum(((lo == i) & (hi == j)).astype(np.float64), kh, kw)  # C_ij + C_ji (i != j)
                        asm += (c / n) ** 2 if i == j else 2 * (c / (2 * n)) ** 2
                cache["ASM"] = asm
            out.append(cache["ASM"] if name == "ASM" else np.sqrt(cache["ASM"]))
        elif name == "correlation":
            mu = (mean_of(a) + mean_of(b)) / 2
            var = (mean_of(a * a) + mean_of(b * b)) / 2 - mu**2
            cov = mean_of(a * b) - mu**2
            corr = np.divide(cov, var, out=np.ones_like(cov), where=var > 1e-12)
            out.append(corr)
    return np.stack(out).astype(np.float32)


class GLCMTexture(Transform):
    """Append GLCM texture channels of the chosen bands to a (C, H, W) image.

    Args:
        bands: the bands to texture (e.g. the NIR band): indices, or names of ``band_names``.
        value_range: fixed quantisation range (same for every tile); None uses each tile's 1-99th percentiles.
        enabled: False makes this the identity (one setting switches texture on or off everywhere).
        band_names: names of the image's channels, in order, when ``bands`` names them.
    """

    def __init__(
        self, bands: Sequence[int | str] = (0,), features: Sequence[str] = ("contrast", "homogeneity"), window: int = 7,
        levels: int = 16, offset: tuple[int, int] = (0, 1), value_range: tuple[float, float] | None = None,
        enabled: bool = True, band_names: Sequence[str] | None = None,
    ) -> None:
        if any(isinstance(b, str) for b in bands):
            if band_names is None:
                raise ValueError(f"GLCM bands {list(bands)} are names: give band_names (the image's channels).")
            from monai_pipelines.data.geotiff import band_indices

            bands = [b if isinstance(b, int) else band_indices(band_names, [b])[0] for b in bands]
        unknown = set(features) - set(GLCM_FEATURES)
        if unknown:
            raise ValueError(f"unknown GLCM feature(s) {sorted(unknown)}; known: {list(GLCM_FEATURES)}.")
        self.bands, self.features, self.window = [int(b) for b in bands], list(features), window
        self.levels, self.offset, self.value_range = levels, tuple(offset), value_range
        self.enabled = bool(enabled)

    @property
    def num_channels(self) -> int:
        """Channels appended (0 when disabled): one per textured band and feature."""
        return len(self.bands) * len(self.features) if self.enabled else 0

    def __call__(self, img: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        if not self.enabled:
            return img
        arr = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
        extra = [
            glcm_features(quantise(arr[b], self.levels, self.value_range), self.window, self.offset, self.levels,
                          self.features)
            for b in self.bands
        ]
        out = np.concatenate([arr.astype(np.float32), *extra], 0)
        return torch.as_tensor(out, device=img.device) if isinstance(img, torch.Tensor) else out


class GLCMTextured(MapTransform):
    """Dictionary wrapper of :class:`GLCMTexture`; extends ``band_names`` when present.

    Args:
        settings: GLCMTexture arguments as one mapping (a bundle's ``glcm_texture``); ``kwargs`` override them.
    """

    def __init__(
        self, keys: KeysCollection = Keys.IMAGE, allow_missing_keys: bool = False,
        settings: Mapping[str, Any] | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.texture = GLCMTexture(**{**dict(settings or {}), **kwargs})

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        if not self.texture.enabled:
            return d
        for key in self.key_iterator(d):
            d[key] = self.texture(d[key])
        if "band_names" in d:
            base = list(d["band_names"])
            d["band_names"] = base + [f"{base[b]}_{f}" for b in self.texture.bands for f in self.texture.features]
        return d


GLCMTextureD = GLCMTextureDict = GLCMTextured
