"""Central-difference gradient checks in float64 for forward/backward pairs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(loss: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Return d loss / d x by central differences, perturbing ``x`` in place one entry at a time.

    ``loss`` must read ``x`` each time it is called; ``x`` is restored after each entry.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + eps
        upper = loss()
        x[index] = original - eps
        lower = loss()
        x[index] = original
        grad[index] = (upper - lower) / (2 * eps)
    return grad


def projected_loss(output: np.ndarray, weights: np.ndarray) -> float:
    """Return sum(output * weights), a scalar whose gradient with respect to output is weights."""
    return float(np.sum(output * weights))


def assert_gradient_close(
    analytic: np.ndarray, numeric: np.ndarray, name: str, rtol: float = 1e-6, atol: float = 1e-8
) -> None:
    """Assert that two gradients agree, reporting the worst entry and its relative error."""
    assert analytic.shape == numeric.shape, f"{name}: shape {analytic.shape} != {numeric.shape}"
    scale = np.maximum(np.abs(analytic), np.abs(numeric))
    error = np.abs(analytic - numeric)
    worst = np.unravel_index(np.argmax(error - rtol * scale), error.shape) if error.size else ()
    assert np.all(error <= atol + rtol * scale), (
        f"{name}: worst entry {worst} analytic {analytic[worst]!r} numeric {numeric[worst]!r}"
    )
