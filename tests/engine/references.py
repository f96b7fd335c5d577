"""Slow loop versions of the functional operations, written the way CNN courses teach them.

They exist only to check the vectorized code in ``cnn_core.functional``, so they favour being
obviously correct over being fast.
"""

from __future__ import annotations

import numpy as np


def pad_loops(X: np.ndarray, pad: int) -> np.ndarray:
    """Return ``X`` of shape (m, n_H, n_W, n_C) with ``pad`` zeros around height and width."""
    m, n_H, n_W, n_C = X.shape
    X_pad = np.zeros((m, n_H + 2 * pad, n_W + 2 * pad, n_C), dtype=X.dtype)
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                X_pad[i, h + pad, w + pad, :] = X[i, h, w, :]
    return X_pad


def conv_forward_loops(A_prev, W, b, stride, pad):
    """Return Z of shape (m, n_H, n_W, n_C) from four nested loops over examples and pixels."""
    m, n_H_prev, n_W_prev, _ = A_prev.shape
    f, _, _, n_C = W.shape
    n_H = (n_H_prev + 2 * pad - f) // stride + 1
    n_W = (n_W_prev + 2 * pad - f) // stride + 1
    A_pad = pad_loops(A_prev, pad)
    Z = np.zeros((m, n_H, n_W, n_C), dtype=np.result_type(A_prev, W))
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    top, left = h * stride, w * stride
                    patch = A_pad[i, top : top + f, left : left + f, :]
                    Z[i, h, w, c] = np.sum(patch * W[:, :, :, c]) + b[0, 0, 0, c]
    return Z


def conv_backward_loops(dZ, A_prev, W, stride, pad):
    """Return (dA_prev, dW, db) by adding every output's contribution one at a time."""
    m, n_H, n_W, n_C = dZ.shape
    f = W.shape[0]
    A_pad = pad_loops(A_prev, pad)
    dA_pad = np.zeros_like(A_pad)
    dW = np.zeros_like(W)
    db = np.zeros((1, 1, 1, n_C), dtype=W.dtype)
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    top, left = h * stride, w * stride
                    patch = A_pad[i, top : top + f, left : left + f, :]
                    dA_pad[i, top : top + f, left : left + f, :] += W[:, :, :, c] * dZ[i, h, w, c]
                    dW[:, :, :, c] += patch * dZ[i, h, w, c]
                    db[0, 0, 0, c] += dZ[i, h, w, c]
    n_H_pad, n_W_pad = dA_pad.shape[1:3]
    dA_prev = dA_pad[:, pad : n_H_pad - pad, pad : n_W_pad - pad, :]
    return dA_prev, dW, db


def pool_forward_loops(A_prev, f, stride, mode):
    """Return the pooled A of shape (m, n_H, n_W, n_C) from loops over every window."""
    m, n_H_prev, n_W_prev, n_C = A_prev.shape
    n_H = (n_H_prev - f) // stride + 1
    n_W = (n_W_prev - f) // stride + 1
    A = np.zeros((m, n_H, n_W, n_C), dtype=A_prev.dtype)
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    top, left = h * stride, w * stride
                    window = A_prev[i, top : top + f, left : left + f, c]
                    A[i, h, w, c] = window.max() if mode == "max" else window.mean()
    return A


def pool_backward_loops(dA, A_prev, f, stride, mode):
    """Return dA_prev; each max window sends its gradient to its first maximum, row by row."""
    m, n_H, n_W, n_C = dA.shape
    dA_prev = np.zeros_like(A_prev)
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    top, left = h * stride, w * stride
                    if mode == "max":
                        window = A_prev[i, top : top + f, left : left + f, c]
                        # np.argmax returns the first maximum of the C-order (row-major) ravel.
                        r, s = np.unravel_index(np.argmax(window), window.shape)
                        dA_prev[i, top + r, left + s, c] += dA[i, h, w, c]
                    else:
                        dA_prev[i, top : top + f, left : left + f, c] += dA[i, h, w, c] / (f * f)
    return dA_prev


def pool_winner_mask_loops(A_prev, f, stride):
    """Return a uint8 mask of A_prev's shape with 1 on every window's first maximum."""
    m, n_H_prev, n_W_prev, n_C = A_prev.shape
    n_H = (n_H_prev - f) // stride + 1
    n_W = (n_W_prev - f) // stride + 1
    mask = np.zeros(A_prev.shape, dtype=np.uint8)
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                for c in range(n_C):
                    top, left = h * stride, w * stride
                    window = A_prev[i, top : top + f, left : left + f, c]
                    r, s = np.unravel_index(np.argmax(window), window.shape)
                    mask[i, top + r, left + s, c] = 1
    return mask


def softmax_cross_entropy_loops(Z, y):
    """Return the mean cross-entropy over the columns of Z, one example at a time, in float64."""
    n_classes, m = Z.shape
    total = 0.0
    for i in range(m):
        column = Z[:, i].astype(np.float64)
        top = column.max()
        log_sum = top + np.log(np.sum(np.exp(column - top)))
        total += log_sum - column[y[i]]
    return total / m
