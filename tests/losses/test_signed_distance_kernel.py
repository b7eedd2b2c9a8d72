"""The compiled 2D signed distance kernel gives scipy's maps bit for bit, and "auto" takes it for 2D labels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from monai_pipelines.losses import boundary_loss
from monai_pipelines.losses.boundary_loss import signed_distance_maps

pytest.importorskip("numba")


def _random_label(rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Smooth regions of 2-5 classes at random sizes, some with a class absent or filling the image, some noise."""
    shape = (int(rng.integers(1, 4)), int(rng.integers(2, 70)), int(rng.integers(2, 70)))
    num_classes = int(rng.integers(2, 6))
    field = gaussian_filter(rng.standard_normal(shape), (0, rng.uniform(0.3, 8), rng.uniform(0.3, 8)))
    label = np.digitize(field, np.sort(np.quantile(field, rng.uniform(0, 1, num_classes - 1))))
    kind = rng.random()
    if kind < 0.1:
        label[:] = rng.integers(0, num_classes)
    elif kind < 0.2:
        label = rng.integers(0, num_classes, shape)
    return label.astype(np.int64), num_classes


@pytest.mark.parametrize("include_background", [True, False])
@pytest.mark.parametrize("normalise", [True, False])
def test_numba_equals_scipy_bit_for_bit(include_background, normalise):
    rng = np.random.default_rng(7 + include_background + 2 * normalise)
    for _ in range(120):
        label, num_classes = _random_label(rng)
        kwargs = {"normalise": normalise, "include_background": include_background}
        compiled = signed_distance_maps(label, num_classes, backend="numba", **kwargs)
        reference = signed_distance_maps(label, num_classes, backend="scipy", **kwargs)
        assert compiled.dtype == reference.dtype == np.float32
        np.testing.assert_array_equal(compiled, reference)


def test_channel_axis_and_auto_backend(monkeypatch):
    label = np.zeros((2, 1, 12, 9), dtype=np.int64)
    label[:, :, 3:8, 2:6] = 1
    calls = []
    from monai_pipelines.losses import signed_distance_kernel

    real = signed_distance_kernel.compiled_signed_distance_maps_2d
    monkeypatch.setattr(signed_distance_kernel, "compiled_signed_distance_maps_2d",
                        lambda *a: calls.append(a) or real(*a))
    maps = signed_distance_maps(label, 3)
    assert len(calls) == 1 and maps.shape == (2, 3, 12, 9)
    np.testing.assert_array_equal(maps, signed_distance_maps(label, 3, backend="scipy"))
    signed_distance_maps(np.zeros((1, 4, 4, 4), dtype=np.int64), 2)  # 3D: scipy
    assert len(calls) == 1


def test_without_numba_auto_uses_scipy(monkeypatch):
    monkeypatch.setattr(boundary_loss, "_numba_installed", lambda: False)
    label = np.eye(6, dtype=np.int64)[None]
    np.testing.assert_array_equal(signed_distance_maps(label, 2), signed_distance_maps(label, 2, backend="numba"))


def test_bad_backend_or_dimension_is_one_error():
    with pytest.raises(ValueError, match="backend must be one of"):
        signed_distance_maps(np.zeros((1, 4, 4), dtype=np.int64), 2, backend="cuda")
    with pytest.raises(ValueError, match="2D labels"):
        signed_distance_maps(np.zeros((1, 4, 4, 4), dtype=np.int64), 2, backend="numba")
    with pytest.raises(ValueError, match="H \\+ W < 46000"):  # int32 squared distances
        signed_distance_maps(np.zeros((1, 2, 46_000), dtype=np.int8), 2, backend="numba")
