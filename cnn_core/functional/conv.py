"""2-D convolution (cross-correlation) over NHWC feature maps, computed with im2col and one GEMM.

Notes
-----
For an input of height ``n_H_prev``, a window of size ``f``, padding ``pad`` and stride ``stride``,
the output height is ``floor((n_H_prev + 2 * pad - f) / stride) + 1``, and the same for the width.
Rows and columns that a window at the last stride step does not reach are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._parallel import for_each_batch_range
from ._validation import (
    as_float_array,
    check_int,
    check_ndim,
    check_out,
    check_shape,
    check_window_fits,
)
from .padding import unpad, zero_pad


@dataclass(frozen=True)
class ConvCache:
    """Values that ``conv_forward`` keeps for ``conv_backward``.

    Attributes
    ----------
    A_pad : ndarray of shape (m, n_H_prev + 2 * pad, n_W_prev + 2 * pad, n_C_prev)
        The zero-padded input, which the UI shows.
    cols : ndarray of shape (m * n_H * n_W, f * f * n_C_prev)
        One row per output position: its receptive field in (row, column, channel) order.
    W : ndarray of shape (f, f, n_C_prev, n_C)
    stride : int
    pad : int
    output_shape : tuple (m, n_H, n_W, n_C)
    """

    A_pad: np.ndarray
    cols: np.ndarray
    W: np.ndarray
    stride: int
    pad: int
    output_shape: tuple[int, int, int, int]


def conv_output_size(n: int, f: int, stride: int, pad: int) -> int:
    """Return the output length of a convolution along one axis of input length ``n``."""
    return (n + 2 * pad - f) // stride + 1


def conv_forward(
    A_prev: np.ndarray, W: np.ndarray, b: np.ndarray, *, stride: int = 1, pad: int = 0
) -> tuple[np.ndarray, ConvCache]:
    """Convolve a batch of feature maps with a bank of filters and add a bias per filter.

    ``Z[i, h, w, c] = sum(A_pad[i, h*stride : h*stride + f, w*stride : w*stride + f, :]
    * W[:, :, :, c]) + b[0, 0, 0, c]``, the cross-correlation that CNN courses call convolution.

    Parameters
    ----------
    A_prev : ndarray of shape (m, n_H_prev, n_W_prev, n_C_prev)
    W : ndarray of shape (f, f, n_C_prev, n_C)
    b : ndarray of shape (1, 1, 1, n_C)
    stride : int >= 1
    pad : int >= 0
        Zero rows and columns added on each border of the input.

    Returns
    -------
    Z : ndarray of shape (m, n_H, n_W, n_C)
        Its dtype follows NumPy promotion of ``A_prev`` and ``W``, so float32 inputs give float32.
    cache : ConvCache
    """
    A_prev = as_float_array("A_prev", A_prev)
    W = as_float_array("W", W)
    b = as_float_array("b", b)
    check_ndim("A_prev", A_prev, 4, "(m, n_H_prev, n_W_prev, n_C_prev)")
    check_ndim("W", W, 4, "(f, f, n_C_prev, n_C)")
    stride = check_int("stride", stride, minimum=1)
    pad = check_int("pad", pad, minimum=0)

    m, n_H_prev, n_W_prev, n_C_prev = A_prev.shape
    f, f_W, W_C_prev, n_C = W.shape
    if f != f_W:
        raise ValueError(f"W must have square f x f filters, got shape {W.shape!r}")
    if W_C_prev != n_C_prev:
        raise ValueError(
            f"W has {W_C_prev} input channels (shape {W.shape!r}) but A_prev has {n_C_prev} "
            f"(shape {A_prev.shape!r}); W.shape[2] must equal A_prev.shape[3]"
        )
    check_shape("b", b, (1, 1, 1, n_C))
    check_window_fits(f, n_H_prev + 2 * pad, n_W_prev + 2 * pad, "padded input")

    n_H = conv_output_size(n_H_prev, f, stride, pad)
    n_W = conv_output_size(n_W_prev, f, stride, pad)
    A_pad = zero_pad(A_prev, pad)
    cols = _im2col(A_pad, f, stride, n_H, n_W)

    Z = cols @ W.reshape(f * f * n_C_prev, n_C)
    Z += b.reshape(1, n_C)
    Z = Z.reshape(m, n_H, n_W, n_C)

    cache = ConvCache(A_pad=A_pad, cols=cols, W=W, stride=stride, pad=pad, output_shape=Z.shape)
    return Z, cache


def conv_backward(
    dZ: np.ndarray, cache: ConvCache, *, dW_out: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the gradients of a scalar loss with respect to the input, weights and bias of a conv.

    No factor 1/m is applied: each gradient is the exact gradient of the scalar whose gradient
    ``dZ`` is.

    Parameters
    ----------
    dZ : ndarray of shape (m, n_H, n_W, n_C)
    cache : ConvCache from ``conv_forward``
    dW_out : ndarray of shape (f, f, n_C_prev, n_C), optional
        C-contiguous array with the dtype of ``dZ`` and ``cache.cols`` combined that receives
        ``dW`` in place, so that a layer can reuse one gradient buffer across steps.

    Returns
    -------
    dA_prev : ndarray of shape (m, n_H_prev, n_W_prev, n_C_prev)
    dW : ndarray of shape (f, f, n_C_prev, n_C)
        ``dW_out`` itself when it is given.
    db : ndarray of shape (1, 1, 1, n_C)
    """
    dZ = as_float_array("dZ", dZ)
    check_shape("dZ", dZ, cache.output_shape)

    W, stride, pad = cache.W, cache.stride, cache.pad
    f, _, n_C_prev, n_C = W.shape
    m, n_H, n_W, _ = dZ.shape
    dZ_rows = dZ.reshape(m * n_H * n_W, n_C)

    if dW_out is None:
        dW = (cache.cols.T @ dZ_rows).reshape(W.shape)
    else:
        dW = check_out("dW_out", dW_out, W.shape, np.result_type(dZ, cache.cols))
        np.matmul(cache.cols.T, dZ_rows, out=dW.reshape(f * f * n_C_prev, n_C))
    db = dZ_rows.sum(axis=0).reshape(1, 1, 1, n_C)

    # col2im: each kernel offset (i, j) sends the gradient of every output position back to the
    # input cell it read there. One large GEMM gives all offsets at once. Nine smaller GEMMs, one
    # per offset, would make the adds below contiguous but slowed BLAS down on a busy machine.
    d_cols = dZ_rows @ W.reshape(f * f * n_C_prev, n_C).T
    d_cols = d_cols.reshape(m, n_H, n_W, f, f, n_C_prev)
    dA_pad = np.empty(cache.A_pad.shape, dtype=d_cols.dtype)

    def add_blocks(examples: slice) -> None:
        dA_pad[examples] = 0
        for i in range(f):
            for j in range(f):
                rows, columns = _window_rows(i, n_H, stride), _window_rows(j, n_W, stride)
                dA_pad[examples, rows, columns, :] += d_cols[examples, :, :, i, j, :]

    for_each_batch_range(add_blocks, m, dA_pad.size)
    dA_prev = unpad(dA_pad, pad)
    return dA_prev, dW, db


def _window_rows(offset: int, n_out: int, stride: int) -> slice:
    """Return the slice of input rows that kernel row ``offset`` reads over all output rows."""
    return slice(offset, offset + stride * (n_out - 1) + 1, stride)


def _im2col(A_pad: np.ndarray, f: int, stride: int, n_H: int, n_W: int) -> np.ndarray:
    """Copy every receptive field of ``A_pad`` into one row of a C-contiguous 2-D matrix.

    Returns an ndarray of shape (m * n_H * n_W, f * f * n_C_prev) whose columns follow the
    (row, column, channel) order of ``W.reshape(f * f * n_C_prev, n_C)``.
    """
    m, _, _, n_C_prev = A_pad.shape
    windows = sliding_window_view(A_pad, (f, f), axis=(1, 2))
    windows = windows[:, : stride * (n_H - 1) + 1 : stride, : stride * (n_W - 1) + 1 : stride]
    # windows: (m, n_H, n_W, n_C_prev, f, f); move the channel axis last to match W's layout.
    windows = windows.transpose(0, 1, 2, 4, 5, 3)
    cols = np.empty((m, n_H, n_W, f, f, n_C_prev), dtype=A_pad.dtype)

    def copy_windows(examples: slice) -> None:
        cols[examples] = windows[examples]

    for_each_batch_range(copy_windows, m, cols.size)
    return cols.reshape(m * n_H * n_W, f * f * n_C_prev)
