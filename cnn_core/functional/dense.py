"""Fully connected (dense) layer on activations of shape (n_features, m)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import as_float_array, check_ndim, check_out, check_shape


@dataclass(frozen=True)
class LinearCache:
    """Values that ``linear_forward`` keeps for ``linear_backward``.

    Attributes
    ----------
    A : ndarray of shape (n_in, m)
    W : ndarray of shape (n_out, n_in)
    """

    A: np.ndarray
    W: np.ndarray


def linear_forward(A: np.ndarray, W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, LinearCache]:
    """Compute ``Z = W @ A + b``.

    Parameters
    ----------
    A : ndarray of shape (n_in, m)
    W : ndarray of shape (n_out, n_in)
    b : ndarray of shape (n_out, 1)

    Returns
    -------
    Z : ndarray of shape (n_out, m)
    cache : LinearCache
    """
    A = as_float_array("A", A)
    W = as_float_array("W", W)
    b = as_float_array("b", b)
    check_ndim("A", A, 2, "(n_in, m)")
    check_ndim("W", W, 2, "(n_out, n_in)")
    n_out, n_in = W.shape
    if A.shape[0] != n_in:
        raise ValueError(
            f"A has {A.shape[0]} features (shape {A.shape!r}) but W expects {n_in} "
            f"(shape {W.shape!r}); A.shape[0] must equal W.shape[1]"
        )
    check_shape("b", b, (n_out, 1))

    Z = W @ A
    Z += b
    return Z, LinearCache(A=A, W=W)


def linear_backward(
    dZ: np.ndarray, cache: LinearCache, *, dW_out: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the gradients of a scalar loss with respect to the input, weights and bias.

    No factor 1/m is applied: the loss gradient ``dZ`` already carries the batch mean.

    Parameters
    ----------
    dZ : ndarray of shape (n_out, m)
    cache : LinearCache from ``linear_forward``
    dW_out : ndarray of shape (n_out, n_in), optional
        C-contiguous array with the dtype of ``dZ @ A.T`` that receives ``dW`` in place. A dense
        layer's ``dW`` has the size of its weights (88 MB for the seed preset's first dense
        layer), so reusing one buffer saves allocating and copying that much on every step.

    Returns
    -------
    dA_prev : ndarray of shape (n_in, m)
    dW : ndarray of shape (n_out, n_in)
        ``dW_out`` itself when it is given.
    db : ndarray of shape (n_out, 1)
    """
    dZ = as_float_array("dZ", dZ)
    A, W = cache.A, cache.W
    check_shape("dZ", dZ, (W.shape[0], A.shape[1]))

    if dW_out is None:
        dW = dZ @ A.T
    else:
        dW_out = check_out("dW_out", dW_out, W.shape, np.result_type(dZ, A))
        dW = np.matmul(dZ, A.T, out=dW_out)
    db = dZ.sum(axis=1, keepdims=True)
    # Computed as (m, n_in) and transposed, so that unflatten of a conv feature map is a view.
    dA_prev = (dZ.T @ W).T
    return dA_prev, dW, db
