"""Rigid (6 degrees of freedom) registration of one image onto another, by mutual information.

Ours because MONAI has no intensity-based registration. Two backends of one method: "torch"
(:mod:`torch_registration`, the default: no ITK to load, 8.5 s of a fresh process) and "itk", ITK's v4 framework,
whose LPS world and (x, y, z) array order need careful conversion from NIfTI/MONAI's RAS affines, which this module
owns.

Conventions: arrays are indexed like MONAI's (i, j, k) with RAS affines (voxel index -> world mm). The returned
``fixed_to_moving`` maps a point of the fixed image's world (RAS, mm) to the corresponding moving-image point, which is
what resampling the moving image onto the fixed grid needs; ``moving_to_fixed`` is its inverse.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.config.type_definitions import NdarrayOrTensor
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform
from monai.utils import ensure_tuple_rep, optional_import

itk, _ = optional_import("itk", name="", descriptor="Rigid registration needs ITK: pip install 'itk>=5.4'.")

__all__ = [
    "RegistrationResult",
    "RegistrationSettings",
    "RigidRegistration",
    "RigidRegistrationD",
    "RigidRegistrationDict",
    "RigidRegistrationd",
    "check_registration_kwargs",
    "resample_to_grid",
    "rigid_affine",
    "rigid_register",
]

_RAS_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])  # its own inverse: flips x and y between RAS and LPS
METRICS = ("mattes_mi", "mean_squares", "correlation")
BACKENDS = ("torch", "itk")


@dataclass
class RegistrationResult:
    """Result of :func:`rigid_register`.

    Attributes:
        resampled: the moving image resampled onto the fixed grid (float32, fixed shape).
        fixed_to_moving: 4x4 RAS world transform, fixed point -> moving point (ITK's registration convention).
        initial_metric: metric with the images as their headers place them (lower is better; Mattes MI is -MI;
            NaN if they do not overlap at all).
        final_metric: the same metric, same sampling, after registration.
    """

    resampled: np.ndarray
    fixed_to_moving: np.ndarray
    initial_metric: float
    final_metric: float

    @property
    def moving_to_fixed(self) -> np.ndarray:
        return np.linalg.inv(self.fixed_to_moving)

    @property
    def rotation_degrees(self) -> float:
        """Rotation angle of the found transform, in degrees."""
        cos = (np.trace(self.fixed_to_moving[:3, :3]) - 1.0) / 2.0
        return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def rigid_affine(affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A RAS affine (float64) and its voxel spacing; ValueError for a zero-length axis or shear, which neither
    backend's image grid can represent."""
    affine = np.asarray(affine, dtype=np.float64)
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    if np.any(spacing <= 0):
        raise ValueError(f"affine has a zero-length axis: {affine.tolist()}.")
    direction = affine[:3, :3] / spacing
    if not np.allclose(direction.T @ direction, np.eye(3), atol=1e-4):
        raise ValueError("affine has shear (non-orthogonal axes), which rigid registration cannot represent.")
    return affine, spacing


def _to_itk(array: np.ndarray, affine: np.ndarray) -> Any:
    """A 3D numpy array with its RAS affine as a float ITK image (index order and LPS geometry converted)."""
    array = np.asarray(array)
    if array.ndim != 3:
        raise ValueError(f"rigid registration needs 3D spatial arrays, got shape {array.shape}.")
    affine, spacing = rigid_affine(affine)
    lps = _RAS_LPS @ affine
    img = itk.image_from_array(np.ascontiguousarray(array.astype(np.float32).T))  # ITK wants (z, y, x) buffers
    img.SetSpacing(spacing.tolist())
    img.SetOrigin(lps[:3, 3].tolist())
    img.SetDirection(itk.matrix_from_array(np.ascontiguousarray(lps[:3, :3] / spacing)))
    return img


def _transform_to_ras(transform: Any) -> np.ndarray:
    """4x4 RAS matrix of an ITK matrix-offset transform (which acts on LPS points)."""
    m = np.eye(4)
    m[:3, :3] = np.asarray(itk.array_from_matrix(transform.GetMatrix()))
    m[:3, 3] = np.asarray(transform.GetOffset())
    return _RAS_LPS @ m @ _RAS_LPS


def _ras_to_itk_affine(matrix: np.ndarray) -> Any:
    lps = _RAS_LPS @ np.asarray(matrix, dtype=np.float64) @ _RAS_LPS
    t = itk.AffineTransform[itk.D, 3].New()
    t.SetMatrix(itk.matrix_from_array(np.ascontiguousarray(lps[:3, :3])))
    t.SetTranslation(lps[:3, 3].tolist())
    return t


def _resample(moving_itk: Any, fixed_itk: Any, transform: Any, mode: str) -> np.ndarray:
    image_type = itk.Image[itk.F, 3]
    if mode == "nearest":
        interp = itk.NearestNeighborInterpolateImageFunction[image_type, itk.D].New()
    elif mode in ("bilinear", "linear", "trilinear"):
        interp = itk.LinearInterpolateImageFunction[image_type, itk.D].New()
    else:
        raise ValueError(f"interpolation mode must be 'bilinear' or 'nearest', got {mode!r}.")
    resampler = itk.ResampleImageFilter[image_type, image_type].New(
        Input=moving_itk, Transform=transform, Interpolator=interp, DefaultPixelValue=0.0
    )
    resampler.SetReferenceImage(fixed_itk)
    resampler.UseReferenceImageOn()
    resampler.Update()
    return np.asarray(itk.array_from_image(resampler.GetOutput())).T.copy()


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"registration backend must be one of {BACKENDS}, got {backend!r}.")


def resample_to_grid(
    moving: np.ndarray,
    moving_affine: np.ndarray,
    fixed_shape: Sequence[int],
    fixed_affine: np.ndarray,
    fixed_to_moving: np.ndarray | None = None,
    mode: str = "bilinear",
    backend: str = "torch",
) -> np.ndarray:
    """Resample `moving` onto the fixed grid through a 4x4 RAS transform (fixed point -> moving point; None:
    identity), by the torch or the ITK backend (the same values: 0 beyond half a voxel outside the moving image)."""
    _check_backend(backend)
    if backend == "torch":
        from monai_pipelines.transforms.torch_registration import resample_to_grid_torch

        return resample_to_grid_torch(moving, moving_affine, fixed_shape, fixed_affine, fixed_to_moving, mode)
    fixed_itk = _to_itk(np.zeros(tuple(fixed_shape), np.float32), fixed_affine)
    transform = _ras_to_itk_affine(np.eye(4) if fixed_to_moving is None else fixed_to_moving)
    return _resample(_to_itk(moving, moving_affine), fixed_itk, transform, mode)


def _make_metric(metric: str, bins: int) -> Any:
    """An ITK v4 metric; gradients by central differences at the sampled points (no full gradient images)."""
    image_type = itk.Image[itk.F, 3]
    if metric == "mattes_mi":
        m = itk.MattesMutualInformationImageToImageMetricv4[image_type, image_type].New()
        m.SetNumberOfHistogramBins(int(bins))
    elif metric == "mean_squares":
        m = itk.MeanSquaresImageToImageMetricv4[image_type, image_type].New()
    elif metric == "correlation":
        m = itk.CorrelationImageToImageMetricv4[image_type, image_type].New()
    else:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}.")
    m.SetUseFixedImageGradientFilter(False)
    m.SetUseMovingImageGradientFilter(False)
    return m


def _evaluate(metric: str, bins: int, fixed_itk: Any, moving_itk: Any, transform: Any, points: Any) -> float:
    """Metric value at `transform`, on a fixed set of fixed-image sample points (same points every call)."""
    m = _make_metric(metric, bins)
    m.SetFixedImage(fixed_itk)
    m.SetMovingImage(moving_itk)
    m.SetMovingTransform(transform)
    m.SetFixedSampledPointSet(points)
    m.SetUseSampledPointSet(True)
    m.Initialize()
    try:
        return float(m.GetValue())
    except RuntimeError:  # ITK: no sample maps inside the moving image
        return float("nan")


def centre_of_mass(array: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Intensity-weighted centre (above the image minimum) in RAS world mm."""
    w = array.astype(np.float64) - float(array.min())
    total = w.sum()
    if total <= 0:
        centre = (np.asarray(array.shape) - 1) / 2.0
    else:
        centre = np.array([(w.sum(axis=tuple(a for a in range(3) if a != ax)) * np.arange(n)).sum() / total
                           for ax, n in enumerate(array.shape)])
    return np.asarray(affine, dtype=np.float64)[:3, :3] @ centre + np.asarray(affine, dtype=np.float64)[:3, 3]


def _sample_points(fixed: np.ndarray, fixed_itk: Any, n: int, seed: int) -> Any:
    """Up to `n` random physical points of the fixed image (inside its foreground when it has a zero background)."""
    rng = np.random.default_rng(seed)
    idx = np.argwhere(fixed > fixed.min()) if (fixed > fixed.min()).any() else np.argwhere(np.ones_like(fixed))
    idx = idx[rng.choice(len(idx), size=min(n, len(idx)), replace=False)]
    points = itk.PointSet[itk.F, 3].New()
    for i, ijk in enumerate(idx):
        points.SetPoint(i, fixed_itk.TransformIndexToPhysicalPoint([int(v) for v in ijk]))
    return points


@dataclass(frozen=True)
class RegistrationSettings:
    """How :func:`rigid_register` searches, the same for both backends (``registration_kwargs`` in the configs).

    Euler3D transform centred by image moments (centres of mass), Mattes mutual information (or mean squares /
    correlation), regular step gradient descent with physical-shift parameter scales, one level per shrink factor
    (Gaussian smoothing sigmas in voxels, default ``shrink / 2``).

    Attributes:
        sampling: fraction of fixed voxels sampled (random, seeded) for the metric at each level, capped at
            `max_samples` points per level (so the full-resolution level of a 256^3 volume stays affordable).
        learning_rate: initial step (about mm of physical shift), multiplied by `relaxation` whenever the
            gradient changes direction; a level ends when the step falls below `min_step` or after `iterations`.
        num_eval_points: fixed sample points for the initial/final metric values reported.
    """

    metric: str = "mattes_mi"
    bins: int = 32
    sampling: float = 0.2
    shrink_factors: Sequence[int] = (4, 2, 1)
    smoothing_sigmas: Sequence[float] | None = None
    iterations: int = 200
    learning_rate: float = 1.0
    min_step: float = 1e-4
    relaxation: float = 0.7
    init_moments: bool = True
    seed: int = 0
    max_samples: int | None = 100_000
    num_eval_points: int = 20000

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {self.metric!r}.")
        if self.smoothing_sigmas is not None and len(self.smoothing_sigmas) != len(self.shrink_factors):
            raise ValueError(f"need one smoothing sigma per level: {len(self.shrink_factors)} levels, "
                             f"{len(self.smoothing_sigmas)} sigmas.")

    @classmethod
    def of(cls, settings: Mapping[str, Any]) -> RegistrationSettings:
        """Settings from keyword arguments, an unknown name refused in one line (a config's typo)."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(settings) - set(known))
        if unknown:
            raise ValueError(f"unknown registration setting(s) {unknown}; known: {known}, backend and device.")
        return cls(**settings)

    def fraction(self, voxels: int) -> float:
        """Fraction of a level's `voxels` sampled: `sampling`, capped at `max_samples` points."""
        return min(float(self.sampling), 1.0 if self.max_samples is None else self.max_samples / voxels)

    def levels(self) -> list[tuple[int, float]]:
        """(shrink factor, smoothing sigma in voxels) of each level."""
        shrink = [int(f) for f in self.shrink_factors]
        sigmas = [f / 2.0 for f in shrink] if self.smoothing_sigmas is None else self.smoothing_sigmas
        return [(f, float(sigma)) for f, sigma in zip(shrink, sigmas)]


def check_registration_kwargs(kwargs: Mapping[str, Any]) -> None:
    """Raise ValueError, naming the problem, if `kwargs` are not :func:`rigid_register`'s backend and settings."""
    settings = dict(kwargs)
    _check_backend(settings.pop("backend", "torch"))
    if "device" in settings:
        try:
            torch.device(settings.pop("device"))
        except (RuntimeError, TypeError) as e:
            raise ValueError(f"registration device: {e}") from None
    RegistrationSettings.of(settings)


def rigid_register(
    moving: np.ndarray,
    fixed: np.ndarray,
    moving_affine: np.ndarray,
    fixed_affine: np.ndarray,
    backend: str = "torch",
    device: str | torch.device = "cpu",
    **settings: Any,
) -> RegistrationResult:
    """Rigidly register `moving` onto `fixed` (3D arrays, each with its RAS affine; grids may differ).

    Args:
        backend: "torch" (:func:`rigid_register_torch`) or "itk"; the same method, each metric value is its own.
        device: where the torch backend computes (e.g. the inference device); ITK always runs on the CPU.
        settings: :class:`RegistrationSettings` fields (e.g. ``max_samples=30000``).
    """
    _check_backend(backend)
    search = RegistrationSettings.of(settings)
    if backend == "torch":
        from monai_pipelines.transforms.torch_registration import rigid_register_torch

        return rigid_register_torch(moving, fixed, moving_affine, fixed_affine, search, device=device)
    return _rigid_register_itk(moving, fixed, moving_affine, fixed_affine, search)


def _rigid_register_itk(
    moving: np.ndarray, fixed: np.ndarray, moving_affine: np.ndarray, fixed_affine: np.ndarray,
    settings: RegistrationSettings,
) -> RegistrationResult:
    fixed = np.asarray(fixed, dtype=np.float32)
    moving = np.asarray(moving, dtype=np.float32)
    fixed_itk, moving_itk = _to_itk(fixed, fixed_affine), _to_itk(moving, moving_affine)
    metric, bins = settings.metric, settings.bins
    image_type = itk.Image[itk.F, 3]
    euler_type = itk.Euler3DTransform[itk.D]

    transform = euler_type.New()
    fixed_centre = centre_of_mass(fixed, fixed_affine)
    transform.SetCenter((_RAS_LPS[:3, :3] @ fixed_centre).tolist())
    if settings.init_moments:  # ITK Python wraps CenteredTransformInitializer for Versor transforms only
        shift = centre_of_mass(moving, moving_affine) - fixed_centre
        transform.SetTranslation((_RAS_LPS[:3, :3] @ shift).tolist())

    points = _sample_points(fixed, fixed_itk, settings.num_eval_points, settings.seed)
    initial = _evaluate(metric, bins, fixed_itk, moving_itk, euler_type.New(), points)

    metric_obj = _make_metric(metric, bins)
    optimizer = itk.RegularStepGradientDescentOptimizerv4[itk.D].New()
    optimizer.SetLearningRate(float(settings.learning_rate))
    optimizer.SetMinimumStepLength(float(settings.min_step))
    optimizer.SetRelaxationFactor(float(settings.relaxation))
    optimizer.SetNumberOfIterations(int(settings.iterations))
    optimizer.SetGradientMagnitudeTolerance(1e-8)
    scales = itk.RegistrationParameterScalesFromPhysicalShift[type(metric_obj)].New()
    scales.SetMetric(metric_obj)
    optimizer.SetScalesEstimator(scales)

    shrink, sigmas = (list(values) for values in zip(*settings.levels()))
    reg = itk.ImageRegistrationMethodv4[image_type, image_type].New()
    reg.SetFixedImage(fixed_itk)
    reg.SetMovingImage(moving_itk)
    reg.SetMetric(metric_obj)
    reg.SetOptimizer(optimizer)
    reg.SetInitialTransform(transform)
    reg.InPlaceOn()
    reg.SetNumberOfLevels(len(shrink))
    reg.SetShrinkFactorsPerLevel(shrink)
    reg.SetSmoothingSigmasPerLevel(sigmas)
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    voxels = [np.prod([-(-n // f) for n in fixed.shape]) for f in shrink]
    fractions = [settings.fraction(v) for v in voxels]
    if min(fractions) < 1.0:
        reg.SetMetricSamplingStrategy(itk.ImageRegistrationMethodv4Enums.MetricSamplingStrategy_RANDOM)
        reg.SetMetricSamplingPercentagePerLevel(fractions)
    reg.MetricSamplingReinitializeSeed(int(settings.seed))
    try:
        reg.Update()
    except RuntimeError as e:
        reason = next((ln.split(": ", 1)[-1] for ln in str(e).splitlines() if "ITK ERROR" in ln), str(e).strip())
        raise ValueError(f"rigid registration failed: {' '.join(reason.split())}") from e

    final = _evaluate(metric, bins, fixed_itk, moving_itk, transform, points)
    resampled = _resample(moving_itk, fixed_itk, transform, "bilinear")
    return RegistrationResult(resampled, _transform_to_ras(transform), initial, final)


def _spatial_numpy(x: NdarrayOrTensor) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _affine_of(x: NdarrayOrTensor, name: str) -> np.ndarray:
    affine = getattr(x, "affine", None)
    if affine is None:
        raise ValueError(f"{name} image has no affine: registration needs MetaTensors with their world geometry.")
    return np.asarray(affine.detach().cpu() if isinstance(affine, torch.Tensor) else affine, dtype=np.float64)


class RigidRegistration(Transform):
    """Register a (C, X, Y, Z) MetaTensor (channel 0 drives it) onto a fixed one and resample all channels onto the
    fixed grid; the output carries the fixed affine and the RAS transform in ``meta["rigid_fixed_to_moving"]``."""

    def __init__(self, mode: str = "bilinear", **register_kwargs: Any) -> None:
        self.mode = mode
        self.register_kwargs = register_kwargs
        self.last_result: RegistrationResult | None = None

    def __call__(
        self, img: NdarrayOrTensor, fixed: NdarrayOrTensor, fixed_to_moving: np.ndarray | None = None
    ) -> MetaTensor:
        """Register `img` onto `fixed`, or, if `fixed_to_moving` is given, only resample through it."""
        moving_arr, fixed_arr = _spatial_numpy(img), _spatial_numpy(fixed)
        m_aff, f_aff = _affine_of(img, "moving"), _affine_of(fixed, "fixed")
        if fixed_to_moving is None:
            self.last_result = rigid_register(moving_arr[0], fixed_arr[0], m_aff, f_aff, **self.register_kwargs)
            fixed_to_moving = self.last_result.fixed_to_moving
        backend = self.register_kwargs.get("backend", "torch")
        out = np.stack([resample_to_grid(c, m_aff, fixed_arr.shape[1:], f_aff, fixed_to_moving, self.mode, backend)
                        for c in moving_arr])
        meta = {k: v for k, v in img.meta.items() if k != "affine"} if isinstance(img, MetaTensor) else {}
        meta["spatial_shape"] = np.asarray(fixed_arr.shape[1:])
        meta["rigid_fixed_to_moving"] = torch.as_tensor(fixed_to_moving)
        return MetaTensor(torch.as_tensor(out, dtype=torch.float32), affine=torch.as_tensor(f_aff), meta=meta)


class RigidRegistrationd(MapTransform):
    """Dictionary version of :class:`RigidRegistration`: each of `keys` is registered onto ``data[fixed_key]``.

    Args:
        mode: interpolation per key ("bilinear" or "nearest", e.g. for a label).
        same_transform: register only the first key and apply its transform to the others (an image and its mask).
    """

    def __init__(
        self,
        keys: KeysCollection,
        fixed_key: Hashable,
        mode: str | Sequence[str] = "bilinear",
        same_transform: bool = False,
        allow_missing_keys: bool = False,
        **register_kwargs: Any,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.fixed_key = fixed_key
        self.modes = ensure_tuple_rep(mode, len(self.keys))
        self.same_transform = same_transform
        self.register_kwargs = register_kwargs

    def __call__(self, data: Mapping[Hashable, NdarrayOrTensor]) -> dict[Hashable, NdarrayOrTensor]:
        d = dict(data)
        fixed = d[self.fixed_key]
        shared: np.ndarray | None = None
        for key, mode in self.key_iterator(d, self.modes):
            reg = RigidRegistration(mode=mode, **self.register_kwargs)
            d[key] = reg(d[key], fixed, shared)
            if self.same_transform and shared is None:
                shared = d[key].meta["rigid_fixed_to_moving"].numpy()
        return d


RigidRegistrationD = RigidRegistrationDict = RigidRegistrationd
