"""Numerical gradient checking (introduced with Lecture 01, used again in Lectures 02 and 06).

A hand-written backward pass is only trusted once it agrees with central finite differences:
``df/dx_i ≈ (f(x + h e_i) - f(x - h e_i)) / 2h``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(
    function: Callable[[np.ndarray], float], x: np.ndarray, step: float = 1e-5
) -> np.ndarray:
    """Estimate the gradient of a scalar ``function`` at ``x`` by central differences.

    Args:
        function: maps an array shaped like ``x`` to a float. It reads ``x`` and must not keep it.
        x: float64 array of any shape; it is perturbed in place and restored.
        step: the finite-difference step ``h``.

    Returns:
        An array shaped like ``x``: the estimated gradient.
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise TypeError(
            f"Expected a float64 numpy array (float32 is too coarse for finite differences); "
            f"received {type(x).__name__} of dtype {getattr(x, 'dtype', None)}."
        )
    gradient = np.zeros_like(x)
    flat_x, flat_gradient = x.reshape(-1), gradient.reshape(-1)
    for i in range(flat_x.size):
        original = flat_x[i]
        flat_x[i] = original + step
        plus = float(function(x))
        flat_x[i] = original - step
        minus = float(function(x))
        flat_x[i] = original
        flat_gradient[i] = (plus - minus) / (2 * step)
    return gradient


def relative_error(a: np.ndarray, b: np.ndarray, floor: float = 1e-8) -> float:
    """Return ``max |a - b| / max(|a| + |b|, floor)``, the usual gradient-check measure."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"Expected arrays of one shape; received {a.shape} and {b.shape}.")
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)))
