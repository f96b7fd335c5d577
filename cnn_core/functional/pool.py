"""Max and average pooling over NHWC feature maps, vectorized over the window offsets.

Notes
-----
For an input of height ``n_H_prev``, a window of size ``f`` and stride ``stride``, the output
height is ``floor((n_H_prev - f) / stride) + 1``, and the same for the width. Windows that do not
fit are dropped, so the last rows or columns of the input may get no gradient.

Max pooling sends each window's gradient to exactly one cell: the first maximum of the window in
row-major order, as PyTorch does. Tied maxima, such as all-zero windows after a ReLU, are common.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._parallel import for_each_batch_range
from ._validation import as_float_array, check_int, check_ndim, check_shape, check_window_fits

POOL_MODES = ("max", "average")


@dataclass(frozen=True)
class PoolCache:
    """Values that ``pool_forward`` keeps for ``pool_backward`` and ``pool_winner_mask``.

    Attributes
    ----------
    A_prev : ndarray of shape (m, n_H_prev, n_W_prev, n_C)
    A : ndarray of shape (m, n_H, n_W, n_C)
        The pooled output.
    row_pooled : ndarray of shape (m, n_rows, n_W, n_C)
        The first of the two separable passes: the maximum (max mode) or the sum (average mode)
        of each window's columns, for each of the ``n_rows`` input rows that windows cover.
    f : int
    stride : int
    mode : str
        ``"max"`` or ``"average"``.
    """

    A_prev: np.ndarray
    A: np.ndarray
    row_pooled: np.ndarray
    f: int
    stride: int
    mode: str


def pool_output_size(n: int, f: int, stride: int) -> int:
    """Return the output length of pooling along one axis of input length ``n``."""
    return (n - f) // stride + 1


def pool_forward(
    A_prev: np.ndarray, *, f: int, stride: int, mode: str = "max"
) -> tuple[np.ndarray, PoolCache]:
    """Pool each channel of a batch of feature maps over f x f windows.

    A window is the product of f rows and f columns, so the pooling runs in two separable passes:
    first over each window's columns, then over its rows. That takes 2 * (f - 1) array operations
    in place of f * f - 1.

    Parameters
    ----------
    A_prev : ndarray of shape (m, n_H_prev, n_W_prev, n_C)
    f : int >= 1
        Window height and width.
    stride : int >= 1
    mode : {"max", "average"}

    Returns
    -------
    A : ndarray of shape (m, n_H, n_W, n_C), with the dtype of ``A_prev``
    cache : PoolCache
    """
    A_prev = as_float_array("A_prev", A_prev)
    check_ndim("A_prev", A_prev, 4, "(m, n_H_prev, n_W_prev, n_C)")
    f = check_int("f", f, minimum=1)
    stride = check_int("stride", stride, minimum=1)
    if mode not in POOL_MODES:
        raise ValueError(f"mode must be one of {POOL_MODES!r}, got {mode!r}")

    m, n_H_prev, n_W_prev, n_C = A_prev.shape
    check_window_fits(f, n_H_prev, n_W_prev, "input")
    n_H = pool_output_size(n_H_prev, f, stride)
    n_W = pool_output_size(n_W_prev, f, stride)
    n_rows = stride * (n_H - 1) + f  # input rows that some window covers
    if mode == "max":
        reduce = np.maximum
    elif mode == "average":
        reduce = np.add
    else:
        raise AssertionError(f"unhandled pooling mode {mode!r}")

    row_pooled = np.empty((m, n_rows, n_W, n_C), dtype=A_prev.dtype)
    A = np.empty((m, n_H, n_W, n_C), dtype=A_prev.dtype)

    def pool_examples(examples: slice) -> None:
        covered = A_prev[examples, :n_rows]
        _reduce_offsets(reduce, covered, f, stride, axis=2, out=row_pooled[examples])
        _reduce_offsets(reduce, row_pooled[examples], f, stride, axis=1, out=A[examples])
        if mode == "average":
            A[examples] /= f * f

    for_each_batch_range(pool_examples, m, A_prev.size)

    cache = PoolCache(A_prev=A_prev, A=A, row_pooled=row_pooled, f=f, stride=stride, mode=mode)
    return A, cache


def pool_backward(dA: np.ndarray, cache: PoolCache) -> np.ndarray:
    """Return the gradient of a scalar loss with respect to the input of a pooling layer.

    Max pooling routes each window's gradient to its single winner, the first maximum of the
    window in row-major order. Where windows overlap, a cell that wins several windows receives
    the sum of their gradients. Average pooling spreads each window's gradient evenly over its
    f * f cells.

    Parameters
    ----------
    dA : ndarray of shape (m, n_H, n_W, n_C)
    cache : PoolCache from ``pool_forward``

    Returns
    -------
    dA_prev : ndarray of shape (m, n_H_prev, n_W_prev, n_C)
    """
    dA = as_float_array("dA", dA)
    check_shape("dA", dA, cache.A.shape)

    if cache.mode == "max":
        return _max_pool_backward(dA, cache)
    if cache.mode == "average":
        return _average_pool_backward(dA, cache)
    raise AssertionError(f"unhandled pooling mode {cache.mode!r}")


def pool_winner_mask(cache: PoolCache) -> np.ndarray:
    """Return a 0/1 mask that marks the cell each max-pool window routes its gradient to.

    The winner of a window is its first maximum in row-major order. When windows overlap
    (``stride < f``), one cell may win several windows and its mask value is still 1, so the mask
    shows which cells win, not how many windows they win.

    Parameters
    ----------
    cache : PoolCache from ``pool_forward`` with ``mode="max"``

    Returns
    -------
    mask : ndarray of shape (m, n_H_prev, n_W_prev, n_C) and dtype uint8
    """
    if cache.mode != "max":
        raise ValueError(f"pool_winner_mask needs a max-pool cache, got mode {cache.mode!r}")

    # Every window sends a gradient of 1 to its winner, so the cells that receive a positive sum
    # are exactly the winners.
    routed = _max_pool_backward(np.ones_like(cache.A), cache)
    return (routed > 0).astype(np.uint8)


def _offset_slice(offset: int, n_out: int, stride: int) -> slice:
    """Return the input indices that window offset ``offset`` covers over ``n_out`` windows."""
    return slice(offset, offset + stride * (n_out - 1) + 1, stride)


def _along(axis: int, index: slice) -> tuple:
    """Return an index tuple that applies ``index`` to ``axis`` of a 4-D array."""
    return (slice(None),) * axis + (index,)


def _reduce_offsets(
    reduce: np.ufunc, X: np.ndarray, f: int, stride: int, axis: int, out: np.ndarray
) -> None:
    """Store in ``out`` the reduction of ``X`` with ``reduce`` over the f offsets along ``axis``."""
    n_out = out.shape[axis]
    np.copyto(out, X[_along(axis, _offset_slice(0, n_out, stride))])
    for offset in range(1, f):
        reduce(out, X[_along(axis, _offset_slice(offset, n_out, stride))], out=out)


def _route_to_first_max(
    dY: np.ndarray, Y: np.ndarray, X: np.ndarray, dX: np.ndarray, f: int, stride: int, axis: int
) -> None:
    """Add each gradient of ``dY`` to the first of its f window cells in ``X`` that equals ``Y``.

    ``Y`` is the max of ``X`` over the f offsets along ``axis``, so it is an exact copy of one of
    them and equality finds the candidates. ``claimed`` marks the outputs whose winner an earlier
    offset already found, and the last offset takes every output still unclaimed. The gradient is
    multiplied by a boolean mask because ``np.where`` and masked ``np.copyto`` ran several times
    slower on random masks (NumPy 2.4, profiled on the seed preset). The buffers are reused so
    that the loop allocates no large arrays.
    """
    n_out = Y.shape[axis]
    is_winner = np.empty(Y.shape, dtype=bool)
    claimed = np.zeros(Y.shape, dtype=bool)
    routed = np.empty(dY.shape, dtype=dX.dtype)
    for offset in range(f):
        window = _along(axis, _offset_slice(offset, n_out, stride))
        if offset < f - 1:
            np.equal(X[window], Y, out=is_winner)
            # For booleans a > b is a and not b, computed without a temporary for ~claimed.
            np.greater(is_winner, claimed, out=is_winner)
            claimed |= is_winner
        else:
            np.logical_not(claimed, out=is_winner)
        np.multiply(dY, is_winner, out=routed)
        dX[window] += routed


def _max_pool_backward(dA: np.ndarray, cache: PoolCache) -> np.ndarray:
    # Route through the separable passes in reverse: each window's gradient first goes to the
    # first row whose row maximum equals the window maximum, then within that row to the first
    # column holding that value. Together these pick the first maximum in row-major order.
    f, stride, row_pooled = cache.f, cache.stride, cache.row_pooled
    n_rows = row_pooled.shape[1]
    dtype = np.result_type(dA, cache.A_prev)
    dA_prev = np.empty(cache.A_prev.shape, dtype=dtype)

    def route_examples(examples: slice) -> None:
        rows_max = row_pooled[examples]
        d_rows_max = np.zeros(rows_max.shape, dtype=dtype)
        _route_to_first_max(dA[examples], cache.A[examples], rows_max, d_rows_max, f, stride, 1)
        dA_prev[examples] = 0
        covered_input = cache.A_prev[examples, :n_rows]
        covered = dA_prev[examples, :n_rows]
        _route_to_first_max(d_rows_max, rows_max, covered_input, covered, f, stride, 2)

    for_each_batch_range(route_examples, dA_prev.shape[0], dA_prev.size)
    return dA_prev


def _average_pool_backward(dA: np.ndarray, cache: PoolCache) -> np.ndarray:
    f, stride, row_pooled = cache.f, cache.stride, cache.row_pooled
    n_H, n_W = cache.A.shape[1:3]
    n_rows = row_pooled.shape[1]
    dtype = np.result_type(dA, cache.A_prev)
    dA_prev = np.empty(cache.A_prev.shape, dtype=dtype)

    def spread_examples(examples: slice) -> None:
        d_row_pooled = np.zeros(row_pooled[examples].shape, dtype=dtype)
        share = dA[examples] / (f * f)
        for i in range(f):
            d_row_pooled[:, _offset_slice(i, n_H, stride)] += share
        dA_prev[examples] = 0
        covered = dA_prev[examples, :n_rows]
        for j in range(f):
            covered[:, :, _offset_slice(j, n_W, stride)] += d_row_pooled

    for_each_batch_range(spread_examples, dA_prev.shape[0], dA_prev.size)
    return dA_prev
