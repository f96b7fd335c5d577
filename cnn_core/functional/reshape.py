"""Flattening NHWC feature maps into the column-per-example layout of dense layers."""

from __future__ import annotations

import numpy as np

from ._validation import as_float_array, check_ndim, check_shape


def flatten(A_prev: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """Turn each example's feature map into one column.

    Parameters
    ----------
    A_prev : ndarray of shape (m, n_H, n_W, n_C)

    Returns
    -------
    A_flat : ndarray of shape (n_H * n_W * n_C, m)
        Column ``i`` is ``A_prev[i]`` in C order. It is a view of ``A_prev`` when possible.
    cache : tuple, the shape of ``A_prev``
    """
    A_prev = as_float_array("A_prev", A_prev)
    check_ndim("A_prev", A_prev, 4, "(m, n_H, n_W, n_C)")

    m = A_prev.shape[0]
    return A_prev.reshape(m, -1).T, A_prev.shape


def unflatten(dA_flat: np.ndarray, cache: tuple[int, ...]) -> np.ndarray:
    """Return the gradient of ``flatten``'s input: ``dA_flat`` reshaped back to NHWC.

    Parameters
    ----------
    dA_flat : ndarray of shape (n_H * n_W * n_C, m)
    cache : tuple (m, n_H, n_W, n_C) from ``flatten``

    Returns
    -------
    dA_prev : ndarray of shape (m, n_H, n_W, n_C)
    """
    dA_flat = as_float_array("dA_flat", dA_flat)
    m = cache[0]
    check_shape("dA_flat", dA_flat, (int(np.prod(cache[1:])), m))
    return dA_flat.T.reshape(cache)
