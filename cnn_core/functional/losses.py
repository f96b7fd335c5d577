"""Softmax and the softmax cross-entropy loss on logits of shape (n_classes, m)."""

from __future__ import annotations

import numpy as np

from ._validation import as_float_array, check_ndim


def softmax(Z: np.ndarray) -> np.ndarray:
    """Return the class probabilities of each column of logits.

    The column maximum is subtracted before ``exp``, so logits of any finite magnitude give finite
    probabilities; very unlikely classes underflow to 0.

    Parameters
    ----------
    Z : ndarray of shape (n_classes, m)

    Returns
    -------
    probs : ndarray of shape (n_classes, m), each column summing to 1
    """
    Z = as_float_array("Z", Z)
    check_ndim("Z", Z, 2, "(n_classes, m)")

    e = np.exp(Z - Z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def softmax_cross_entropy(Z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Return the mean cross-entropy of softmax(Z) against labels ``y`` and its gradient.

    The log-probabilities are computed as ``Z - max - log(sum(exp(Z - max)))``, so the cost stays
    finite when a probability underflows to 0.

    Parameters
    ----------
    Z : ndarray of shape (n_classes, m)
        Logits.
    y : ndarray of shape (m,)
        Integer class labels in ``[0, n_classes)``.

    Returns
    -------
    cost : float
        ``-mean(log(softmax(Z)[y[i], i]))`` over the batch.
    dZ : ndarray of shape (n_classes, m)
        ``(softmax(Z) - one_hot(y)) / m``, the only place where the batch mean's 1/m enters the
        gradients.
    """
    Z = as_float_array("Z", Z)
    check_ndim("Z", Z, 2, "(n_classes, m)")
    n_classes, m = Z.shape
    if m == 0:
        raise ValueError(f"Z must contain at least one example (column), got shape {Z.shape!r}")
    y = _check_labels(y, n_classes, m)

    shifted = Z - Z.max(axis=0, keepdims=True)
    e = np.exp(shifted)
    total = e.sum(axis=0, keepdims=True)
    columns = np.arange(m)
    log_probs_true = shifted[y, columns] - np.log(total[0])
    cost = -float(np.mean(log_probs_true, dtype=np.float64))

    dZ = e / total
    dZ[y, columns] -= 1
    dZ /= m
    return cost, dZ


def _check_labels(y, n_classes: int, m: int) -> np.ndarray:
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"y must contain integer class labels, got dtype {y.dtype!r}")
    if y.shape != (m,):
        raise ValueError(f"y must have shape (m,) = {(m,)!r} to match Z, got {y.shape!r}")
    if y.min() < 0 or y.max() >= n_classes:
        bad = y[(y < 0) | (y >= n_classes)][0]
        raise ValueError(f"y contains label {int(bad)!r}; labels must be in [0, {n_classes})")
    return y
