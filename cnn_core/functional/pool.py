"""Max and average pooling over NHWC feature maps, vectorized over the f x f window offsets.

Notes
-----
For an input of height ``n_H_prev``, a window of size ``f`` and stride ``stride``, the output
height is ``floor((n_H_prev - f) / stride) + 1``, and the same for the width. Windows that do not
fit are dropped, so the last rows or columns of the input may get no gradient.

Max pooling sends each window's gradient to exactly one cell: the first maximum of the window in
row-major order, as PyTorch does. Tied maxima, such as all-zero windows after a ReLU, are common.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._validation import as_float_array, check_int, check_ndim, check_shape, check_window_fits

POOL_MODES = ("max", "average")


@dataclass
class PoolCache:
    """Values that ``pool_forward`` keeps for ``pool_backward`` and ``pool_winner_mask``.

    Attributes
    ----------
    A_prev : ndarray of shape (m, n_H_prev, n_W_prev, n_C)
    A : ndarray of shape (m, n_H, n_W, n_C)
        The pooled output.
    f : int
    stride : int
    mode : str
        ``"max"`` or ``"average"``.
    """

    A_prev: np.ndarray
    A: np.ndarray
    f: int
    stride: int
    mode: str
    # Winning window offset per output cell, computed on first use by max-pool backward or mask.
    _winners: np.ndarray | None = field(default=None, repr=False)


def pool_output_size(n: int, f: int, stride: int) -> int:
    """Return the output length of pooling along one axis of input length ``n``."""
    return (n - f) // stride + 1


def pool_forward(
    A_prev: np.ndarray, *, f: int, stride: int, mode: str = "max"
) -> tuple[np.ndarray, PoolCache]:
    """Pool each channel of a batch of feature maps over f x f windows.

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

    if mode == "max":
        A = _pool_max(A_prev, f, stride, n_H, n_W)
    elif mode == "average":
        A = _pool_sum(A_prev, f, stride, n_H, n_W)
        A /= f * f
    else:
        raise AssertionError(f"unhandled pooling mode {mode!r}")

    return A, PoolCache(A_prev=A_prev, A=A, f=f, stride=stride, mode=mode)


def pool_backward(dA: np.ndarray, cache: PoolCache) -> np.ndarray:
    """Return the gradient of a scalar loss with respect to the input of a pooling layer.

    Max pooling routes each window's gradient to its single winner; where windows overlap, a cell
    that wins several windows receives the sum of their gradients. Average pooling spreads each
    window's gradient evenly over its f * f cells.

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

    f, stride = cache.f, cache.stride
    _, n_H, n_W, _ = dA.shape
    dA_prev = np.zeros(cache.A_prev.shape, dtype=np.result_type(dA, cache.A_prev))

    if cache.mode == "max":
        winners = _max_winners(cache)
        for k, (i, j) in enumerate(_offsets(f)):
            window = dA_prev[:, _window_rows(i, n_H, stride), _window_rows(j, n_W, stride), :]
            window += np.where(winners == k, dA, 0)
    elif cache.mode == "average":
        share = dA / (f * f)
        for i, j in _offsets(f):
            dA_prev[:, _window_rows(i, n_H, stride), _window_rows(j, n_W, stride), :] += share
    else:
        raise AssertionError(f"unhandled pooling mode {cache.mode!r}")

    return dA_prev


def pool_winner_mask(cache: PoolCache) -> np.ndarray:
    """Return a 0/1 mask that marks the cell each max-pool window routes its gradient to.

    The winner of a window is its first maximum in row-major order. When windows overlap
    (``stride < f``), one cell may win several windows and still holds 1, so the mask shows which
    cells win, not how many windows they win.

    Parameters
    ----------
    cache : PoolCache from ``pool_forward`` with ``mode="max"``

    Returns
    -------
    mask : ndarray of shape (m, n_H_prev, n_W_prev, n_C) and dtype uint8
    """
    if cache.mode != "max":
        raise ValueError(f"pool_winner_mask needs a max-pool cache, got mode {cache.mode!r}")

    f, stride = cache.f, cache.stride
    _, n_H, n_W, _ = cache.A.shape
    winners = _max_winners(cache)
    mask = np.zeros(cache.A_prev.shape, dtype=np.uint8)
    for k, (i, j) in enumerate(_offsets(f)):
        window = mask[:, _window_rows(i, n_H, stride), _window_rows(j, n_W, stride), :]
        window |= winners == k
    return mask


def _offsets(f: int) -> list[tuple[int, int]]:
    """Return the (row, column) offsets of an f x f window in row-major order."""
    return [(i, j) for i in range(f) for j in range(f)]


def _window_rows(offset: int, n_out: int, stride: int) -> slice:
    """Return the slice of input rows that window row ``offset`` covers over all output rows."""
    return slice(offset, offset + stride * (n_out - 1) + 1, stride)


def _shifted(A_prev: np.ndarray, i: int, j: int, stride: int, n_H: int, n_W: int) -> np.ndarray:
    """Return the view of cell (i, j) of every window, of shape (m, n_H, n_W, n_C)."""
    return A_prev[:, _window_rows(i, n_H, stride), _window_rows(j, n_W, stride), :]


def _pool_max(A_prev: np.ndarray, f: int, stride: int, n_H: int, n_W: int) -> np.ndarray:
    A = _shifted(A_prev, 0, 0, stride, n_H, n_W).copy()
    for i, j in _offsets(f)[1:]:
        np.maximum(A, _shifted(A_prev, i, j, stride, n_H, n_W), out=A)
    return A


def _pool_sum(A_prev: np.ndarray, f: int, stride: int, n_H: int, n_W: int) -> np.ndarray:
    A = _shifted(A_prev, 0, 0, stride, n_H, n_W).copy()
    for i, j in _offsets(f)[1:]:
        A += _shifted(A_prev, i, j, stride, n_H, n_W)
    return A


def _max_winners(cache: PoolCache) -> np.ndarray:
    """Return, per output cell, the row-major index k = i * f + j of its window's first maximum."""
    if cache._winners is None:
        f, stride = cache.f, cache.stride
        _, n_H, n_W, _ = cache.A.shape
        # Visiting offsets from last to first lets the earliest matching offset write last.
        winners = np.zeros(cache.A.shape, dtype=np.uint8 if f * f <= 256 else np.int64)
        for k, (i, j) in reversed(list(enumerate(_offsets(f)))):
            is_max = _shifted(cache.A_prev, i, j, stride, n_H, n_W) == cache.A
            np.copyto(winners, k, where=is_max)
        cache._winners = winners
    return cache._winners
