"""Spin-echo MR signal equation, the sequences' TR/TE, and Rician noise for the synthetic phantoms."""

from __future__ import annotations

import numpy as np

__all__ = ["SEQUENCE_PARAMS", "spin_echo_signal", "add_rician_noise"]

# name -> (TR, TE) in ms: T1-weighted (short TR, short TE), T2-weighted (long TR, long TE), PD (long TR, short TE).
SEQUENCE_PARAMS: dict[str, tuple[float, float]] = {
    "t1": (500.0, 15.0),
    "t2": (4000.0, 100.0),
    "pd": (4000.0, 15.0),
}


def spin_echo_signal(pd, t1_ms, t2_ms, tr_ms: float, te_ms: float) -> np.ndarray:
    """Spin-echo signal ``S = PD * (1 - exp(-TR/T1)) * exp(-TE/T2)`` (TR >> TE approximation), elementwise."""
    pd, t1_ms, t2_ms = (np.asarray(v, dtype=np.float64) for v in (pd, t1_ms, t2_ms))
    if np.any(t1_ms <= 0) or np.any(t2_ms <= 0) or tr_ms <= 0 or te_ms < 0:
        raise ValueError("spin_echo_signal needs positive T1, T2 and TR and a non-negative TE (all in ms).")
    return pd * -np.expm1(-tr_ms / t1_ms) * np.exp(-te_ms / t2_ms)


def add_rician_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of the signal plus complex Gaussian noise of std ``sigma`` per channel (Rician statistics)."""
    if sigma <= 0:
        return image
    scale = np.asarray(sigma, dtype=image.dtype)
    real = image + scale * rng.standard_normal(size=image.shape, dtype=image.dtype)
    imag = scale * rng.standard_normal(size=image.shape, dtype=image.dtype)
    return np.hypot(real, imag)
