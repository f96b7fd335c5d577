"""Argument checks shared by the functional operations.

Every check raises ``ValueError`` or ``TypeError`` with a message that names the argument, shows the
value received with ``!r`` and states what is accepted.
"""

from __future__ import annotations

import operator

import numpy as np


def as_float_array(name: str, value) -> np.ndarray:
    """Return ``value`` as a floating-point array without copying a float input.

    Floating arrays keep their dtype (float32 stays float32, float64 stays float64). Integer and
    boolean arrays, such as ``uint8`` images, become float32.
    """
    array = np.asarray(value)
    if np.issubdtype(array.dtype, np.floating):
        return array
    if np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        return array.astype(np.float32)
    raise TypeError(
        f"{name} must be a real-valued numeric array, got dtype {array.dtype!r}; "
        "pass a float32 or float64 array"
    )


def check_ndim(name: str, array: np.ndarray, ndim: int, layout: str) -> None:
    """Raise ``ValueError`` unless ``array`` has ``ndim`` axes; ``layout`` names them."""
    if array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions {layout}, got shape {array.shape!r}")


def check_shape(name: str, array: np.ndarray, expected: tuple[int, ...]) -> None:
    """Raise ``ValueError`` unless ``array.shape`` equals ``expected``."""
    if array.shape != tuple(expected):
        raise ValueError(f"{name} must have shape {tuple(expected)!r}, got {array.shape!r}")


def check_int(name: str, value, minimum: int) -> int:
    """Return ``value`` as an ``int`` if it is an integer of at least ``minimum``."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}") from None
    if number < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return number


def check_window_fits(f: int, n_H: int, n_W: int, where: str) -> None:
    """Raise ``ValueError`` if an ``f`` x ``f`` window does not fit an ``n_H`` x ``n_W`` input."""
    if f > n_H or f > n_W:
        raise ValueError(
            f"f={f!r} is larger than the {where} of height {n_H} and width {n_W}; "
            f"use f <= {min(n_H, n_W)}"
        )


def check_out(name: str, out, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Return ``out`` if it can receive a result of ``shape`` and ``dtype`` in place.

    The array must be a writable, C-contiguous ndarray of exactly that shape and dtype, so that
    writing through a reshaped view of it reaches every element.
    """
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array or None, got {type(out).__name__}")
    if out.shape != tuple(shape) or out.dtype != dtype:
        raise ValueError(
            f"{name} must have shape {tuple(shape)!r} and dtype {np.dtype(dtype).name}, "
            f"got shape {out.shape!r} and dtype {out.dtype.name}"
        )
    if not (out.flags.c_contiguous and out.flags.writeable):
        raise ValueError(f"{name} must be a writable C-contiguous array")
    return out
