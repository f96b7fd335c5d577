"""Element-wise activations and their backward rules. The input may have any shape."""

from __future__ import annotations

import numpy as np

from ._validation import as_float_array, check_shape


def relu(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``max(Z, 0)`` element-wise.

    Parameters
    ----------
    Z : ndarray of any shape

    Returns
    -------
    A : ndarray with the shape and dtype of ``Z``
    cache : ndarray, the input ``Z``
    """
    Z = as_float_array("Z", Z)
    return np.maximum(Z, 0), Z


def relu_backward(dA: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """Return ``dA`` where the ReLU input was positive and 0 elsewhere, including at ``Z == 0``.

    Parameters
    ----------
    dA : ndarray with the shape of ``Z``
    cache : ndarray ``Z`` from ``relu``

    Returns
    -------
    dZ : ndarray with the shape of ``Z``
    """
    dA = as_float_array("dA", dA)
    check_shape("dA", dA, cache.shape)
    # Multiplying by the boolean mask runs several times faster than np.where on random masks.
    return dA * (cache > 0)


def sigmoid(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply the logistic function ``1 / (1 + exp(-Z))`` element-wise without overflow.

    ``exp`` is only ever taken of ``-abs(Z)``, so logits of any magnitude give finite results.

    Parameters
    ----------
    Z : ndarray of any shape

    Returns
    -------
    A : ndarray with the shape and dtype of ``Z``, values in [0, 1]
    cache : ndarray, the output ``A``
    """
    Z = as_float_array("Z", Z)

    e = np.exp(-np.abs(Z))
    A = np.where(Z >= 0, 1 / (1 + e), e / (1 + e))
    return A, A


def sigmoid_backward(dA: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """Return ``dA * A * (1 - A)``, the gradient through the logistic function.

    Parameters
    ----------
    dA : ndarray with the shape of ``Z``
    cache : ndarray ``A`` from ``sigmoid``

    Returns
    -------
    dZ : ndarray with the shape of ``Z``
    """
    dA = as_float_array("dA", dA)
    check_shape("dA", dA, cache.shape)
    return dA * cache * (1 - cache)
