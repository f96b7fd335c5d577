"""Zero padding of NHWC feature maps and its inverse."""

from __future__ import annotations

import numpy as np

from ._validation import as_float_array, check_int, check_ndim


def zero_pad(X: np.ndarray, pad: int) -> np.ndarray:
    """Pad the height and width of a batch of feature maps with zeros.

    Parameters
    ----------
    X : ndarray of shape (m, n_H, n_W, n_C)
    pad : int >= 0
        Number of zero rows added above and below, and zero columns added left and right.

    Returns
    -------
    X_pad : ndarray of shape (m, n_H + 2 * pad, n_W + 2 * pad, n_C)
        A new array with the dtype of ``X``, even when ``pad`` is 0.
    """
    X = as_float_array("X", X)
    check_ndim("X", X, 4, "(m, n_H, n_W, n_C)")
    pad = check_int("pad", pad, minimum=0)

    m, n_H, n_W, n_C = X.shape
    X_pad = np.zeros((m, n_H + 2 * pad, n_W + 2 * pad, n_C), dtype=X.dtype)
    X_pad[:, pad : pad + n_H, pad : pad + n_W, :] = X
    return X_pad


def unpad(X_pad: np.ndarray, pad: int) -> np.ndarray:
    """Remove ``pad`` rows and columns from each border of ``X_pad``; the inverse of ``zero_pad``.

    The slice ends are computed from the shape, because the usual ``X_pad[:, pad:-pad]`` returns an
    empty array when ``pad`` is 0.

    Parameters
    ----------
    X_pad : ndarray of shape (m, n_H + 2 * pad, n_W + 2 * pad, n_C)
    pad : int >= 0

    Returns
    -------
    X : ndarray of shape (m, n_H, n_W, n_C)
        A view of ``X_pad``.
    """
    check_ndim("X_pad", X_pad, 4, "(m, n_H, n_W, n_C)")
    pad = check_int("pad", pad, minimum=0)
    n_H_pad, n_W_pad = X_pad.shape[1:3]
    if 2 * pad > min(n_H_pad, n_W_pad):
        raise ValueError(
            f"pad={pad!r} removes more than the whole of X_pad with shape {X_pad.shape!r}; "
            f"use pad <= {min(n_H_pad, n_W_pad) // 2}"
        )

    return X_pad[:, pad : n_H_pad - pad, pad : n_W_pad - pad, :]
