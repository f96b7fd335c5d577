"""Scaling of uint8 images to model input and per-channel normalization statistics.

A model receives ``x = (v / 255 - mean) / std`` for a uint8 pixel ``v``, computed in float32.
``to_model_input`` (datasets) and ``images.preprocess`` (uploads) share the helpers below, so the
same picture gives bit-identical input on both paths.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

# A channel whose standard deviation is below this is treated as constant and gets std 1, so the
# normalized input stays finite.
MIN_STD = 1e-6


def uint8_to_unit(values: np.ndarray) -> np.ndarray:
    """Scale uint8 pixel values of any shape to float32 in [0, 1]."""
    return values.astype(np.float32) / np.float32(255)


def normalization_arrays(
    normalization: Mapping[str, Sequence[float]] | None, n_C: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Check a ``{"mean": [...], "std": [...]}`` dict and return float32 arrays of shape ``(n_C,)``.

    Each list has one value per channel, or a single value used for every channel. None means no
    normalization and returns None.
    """
    if normalization is None:
        return None
    if not isinstance(normalization, Mapping) or not {"mean", "std"} <= set(normalization):
        raise ValueError(
            f"normalization must be None or a dict with the keys 'mean' and 'std', "
            f"got {normalization!r}"
        )

    arrays = []
    for key in ("mean", "std"):
        try:
            values = np.asarray(normalization[key], dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError(
                f"normalization[{key!r}] must be a list of numbers, got {normalization[key]!r}"
            ) from None
        if values.size not in (1, n_C) or not np.all(np.isfinite(values)):
            raise ValueError(
                f"normalization[{key!r}] must contain 1 or {n_C} finite numbers (one per channel), "
                f"got {normalization[key]!r}"
            )
        arrays.append(np.broadcast_to(values, (n_C,)).astype(np.float32))

    mean, std = arrays
    if np.any(std <= 0):
        raise ValueError(f"normalization['std'] must be positive, got {normalization['std']!r}")
    return mean, std


def normalize(x: np.ndarray, normalization: Mapping[str, Sequence[float]] | None) -> np.ndarray:
    """Apply ``(x - mean) / std`` per channel to float32 ``x`` of shape ``(..., n_C)``.

    Returns a new float32 array of the same shape; ``x`` itself is left unchanged.
    """
    arrays = normalization_arrays(normalization, x.shape[-1])
    if arrays is None:
        return x.astype(np.float32, copy=True)
    mean, std = arrays
    return (x - mean) / std


def to_model_input(
    X: np.ndarray, normalization: Mapping[str, Sequence[float]] | None = None
) -> np.ndarray:
    """Turn dataset images into model input.

    ``X`` is uint8 of shape ``(m, n_H, n_W, n_C)``. Returns float32 of the same shape containing
    ``(X / 255 - mean) / std`` per channel, or ``X / 255`` when ``normalization`` is None.
    """
    if not isinstance(X, np.ndarray) or X.dtype != np.uint8 or X.ndim != 4:
        raise TypeError(
            "X must be a uint8 array of shape (m, n_H, n_W, n_C), got "
            f"{type(X).__name__} {getattr(X, 'dtype', '')} {getattr(X, 'shape', '')}"
        )
    return normalize(uint8_to_unit(X), normalization)


def compute_normalization(X: np.ndarray) -> dict[str, list[float]]:
    """Compute the per-channel mean and standard deviation of uint8 images in [0, 1] units.

    ``X`` is uint8 of shape ``(m, n_H, n_W, n_C)``. Returns ``{"mean": [...], "std": [...]}``
    with ``n_C`` floats each, ready for ``to_model_input`` and ``preprocess``. The statistics
    come from a 256-bin histogram per channel, so they are exact and need no float copy of ``X``.
    A constant channel gets std 1.
    """
    if not isinstance(X, np.ndarray) or X.dtype != np.uint8 or X.ndim != 4 or X.shape[0] == 0:
        raise TypeError(
            "X must be a non-empty uint8 array of shape (m, n_H, n_W, n_C), got "
            f"{type(X).__name__} {getattr(X, 'dtype', '')} {getattr(X, 'shape', '')}"
        )

    levels = np.arange(256, dtype=np.float64) / 255.0
    means, stds = [], []
    for channel in range(X.shape[-1]):
        counts = np.bincount(X[..., channel].reshape(-1), minlength=256).astype(np.float64)
        total = counts.sum()
        mean = float(counts @ levels / total)
        variance = float(counts @ (levels - mean) ** 2 / total)
        std = variance**0.5
        means.append(mean)
        stds.append(std if std >= MIN_STD else 1.0)

    return {"mean": means, "std": stds}
