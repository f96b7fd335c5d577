"""Tests of pool_forward, pool_backward and pool_winner_mask."""

import numpy as np
import pytest

from cnn_core.functional import pool_backward, pool_forward, pool_winner_mask
from tests.engine.gradcheck import assert_gradient_close, numerical_gradient, projected_loss
from tests.engine.references import (
    pool_backward_loops,
    pool_forward_loops,
    pool_winner_mask_loops,
)

# (m, n_H_prev, n_W_prev, n_C, f, stride): overlapping windows (stride < f), windows that do not
# divide the input, non-square and odd sizes, strides 1-3.
POOL_CASES = [
    (2, 4, 6, 3, 2, 2),
    (2, 5, 7, 2, 3, 1),
    (1, 7, 5, 2, 3, 2),
    (2, 7, 8, 1, 2, 3),
    (1, 6, 6, 2, 1, 1),
    (2, 5, 5, 2, 5, 1),
    (1, 9, 7, 2, 4, 3),
]
MODES = ["max", "average"]


def make_input(case, dtype=np.float64, seed=0):
    m, n_H_prev, n_W_prev, n_C = case[:4]
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, n_H_prev, n_W_prev, n_C)).astype(dtype)


def make_tied_input(case, seed=0):
    # Small integers after a ReLU, so that most windows contain several equal maxima.
    m, n_H_prev, n_W_prev, n_C = case[:4]
    rng = np.random.default_rng(seed)
    return np.maximum(rng.integers(-2, 3, size=(m, n_H_prev, n_W_prev, n_C)), 0).astype(float)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", POOL_CASES)
def test_pool_forward_matches_loops(case, mode):
    f, stride = case[4:]
    A_prev = make_input(case)
    A, _ = pool_forward(A_prev, f=f, stride=stride, mode=mode)
    np.testing.assert_allclose(A, pool_forward_loops(A_prev, f, stride, mode), rtol=1e-12)


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", POOL_CASES)
def test_pool_backward_matches_loops(case, mode, tied):
    f, stride = case[4:]
    A_prev = make_tied_input(case) if tied else make_input(case)
    A, cache = pool_forward(A_prev, f=f, stride=stride, mode=mode)
    dA = np.random.default_rng(5).standard_normal(A.shape)

    dA_prev = pool_backward(dA, cache)

    expected = pool_backward_loops(dA, A_prev, f, stride, mode)
    np.testing.assert_allclose(dA_prev, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", POOL_CASES)
def test_pool_gradient_matches_central_differences(case, mode):
    # Random normal inputs have no ties closer than the step, so the max is differentiable there.
    f, stride = case[4:]
    A_prev = make_input(case)
    A, cache = pool_forward(A_prev, f=f, stride=stride, mode=mode)
    weights = np.random.default_rng(6).standard_normal(A.shape)
    dA_prev = pool_backward(weights, cache)

    def loss():
        return projected_loss(pool_forward(A_prev, f=f, stride=stride, mode=mode)[0], weights)

    assert_gradient_close(dA_prev, numerical_gradient(loss, A_prev), "dA_prev")


def test_max_pool_tie_goes_to_first_cell():
    # Regression: a mask built with x == max(x) sends an all-zero window's gradient to every cell.
    A_prev = np.zeros((1, 2, 2, 1))
    _, cache = pool_forward(A_prev, f=2, stride=2)
    dA_prev = pool_backward(np.full((1, 1, 1, 1), 3.0), cache)
    np.testing.assert_array_equal(dA_prev[0, :, :, 0], [[3.0, 0.0], [0.0, 0.0]])


def test_max_pool_tie_prefers_earlier_row():
    # Row-major order: (0, 2) comes before (1, 0) although its column is larger.
    A_prev = np.zeros((1, 3, 3, 1))
    A_prev[0, 0, 2, 0] = 1.0
    A_prev[0, 1, 0, 0] = 1.0
    _, cache = pool_forward(A_prev, f=3, stride=1)
    dA_prev = pool_backward(np.ones((1, 1, 1, 1)), cache)
    expected = np.zeros((3, 3))
    expected[0, 2] = 1.0
    np.testing.assert_array_equal(dA_prev[0, :, :, 0], expected)


def test_max_pool_overlapping_windows_accumulate():
    # With stride 1 the centre cell wins all four 2 x 2 windows and receives their sum.
    A_prev = np.zeros((1, 3, 3, 1))
    A_prev[0, 1, 1, 0] = 5.0
    _, cache = pool_forward(A_prev, f=2, stride=1)
    dA = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 2, 2, 1)
    dA_prev = pool_backward(dA, cache)
    assert dA_prev[0, 1, 1, 0] == 10.0
    assert np.count_nonzero(dA_prev) == 1


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("case", POOL_CASES)
def test_winner_mask_matches_loops(case, tied):
    f, stride = case[4:]
    A_prev = make_tied_input(case) if tied else make_input(case)
    _, cache = pool_forward(A_prev, f=f, stride=stride)
    mask = pool_winner_mask(cache)
    assert mask.dtype == np.uint8
    assert mask.shape == A_prev.shape
    np.testing.assert_array_equal(mask, pool_winner_mask_loops(A_prev, f, stride))


def test_winner_mask_stays_one_for_repeat_winner():
    A_prev = np.zeros((1, 3, 3, 1))
    A_prev[0, 1, 1, 0] = 5.0
    _, cache = pool_forward(A_prev, f=2, stride=1)
    mask = pool_winner_mask(cache)
    expected = np.zeros((3, 3), dtype=np.uint8)
    expected[1, 1] = 1
    np.testing.assert_array_equal(mask[0, :, :, 0], expected)


def test_winner_mask_marks_one_cell_per_disjoint_window():
    A_prev = np.zeros((2, 4, 6, 3))
    _, cache = pool_forward(A_prev, f=2, stride=2)
    mask = pool_winner_mask(cache)
    assert mask.sum() == 2 * 2 * 3 * 3
    assert np.all(mask[:, ::2, ::2, :] == 1)


def test_winner_mask_rejects_average_cache():
    _, cache = pool_forward(np.zeros((1, 2, 2, 1)), f=2, stride=2, mode="average")
    with pytest.raises(ValueError, match="pool_winner_mask needs a max-pool cache, got mode"):
        pool_winner_mask(cache)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pool_keeps_dtype(dtype, mode):
    A_prev = make_input((2, 5, 6, 2), dtype=dtype)
    A, cache = pool_forward(A_prev, f=3, stride=1, mode=mode)
    dA_prev = pool_backward(np.ones_like(A), cache)
    assert A.dtype == dtype
    assert dA_prev.dtype == dtype


@pytest.mark.parametrize("mode", MODES)
def test_pool_leaves_arguments_unchanged(mode):
    A_prev = make_input((2, 5, 6, 2))
    before = A_prev.copy()
    A, cache = pool_forward(A_prev, f=2, stride=1, mode=mode)
    dA = np.ones_like(A)
    pool_backward(dA, cache)
    np.testing.assert_array_equal(A_prev, before)
    np.testing.assert_array_equal(dA, np.ones_like(A))


def test_pool_drops_windows_that_do_not_fit():
    A_prev = make_input((1, 7, 8, 1))
    A, cache = pool_forward(A_prev, f=3, stride=2)
    assert A.shape == (1, 3, 3, 1)
    dA_prev = pool_backward(np.ones_like(A), cache)
    assert np.all(dA_prev[:, :, 7:, :] == 0)


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"f": 0, "stride": 1}, ValueError, "f must be an integer >= 1, got 0"),
        ({"f": 2, "stride": 0}, ValueError, "stride must be an integer >= 1, got 0"),
        ({"f": 2.0, "stride": 1}, TypeError, "f must be an integer >= 1, got 2.0"),
        ({"f": 5, "stride": 1}, ValueError, "f=5 is larger than the input of height 4 and width 6"),
        ({"f": 2, "stride": 2, "mode": "min"}, ValueError, "mode must be one of ('max', 'aver"),
        ({"f": 2, "stride": 2, "shape": (4, 6, 1)}, ValueError, "A_prev must have 4 dimensions"),
    ],
)
def test_pool_rejects_bad_arguments(kwargs, error, fragment):
    kwargs = dict(kwargs)
    A_prev = np.zeros(kwargs.pop("shape", (1, 4, 6, 1)))
    with pytest.raises(error) as info:
        pool_forward(A_prev, **kwargs)
    assert fragment in str(info.value)


def test_pool_backward_rejects_wrong_gradient_shape():
    _, cache = pool_forward(np.zeros((1, 4, 4, 1)), f=2, stride=2)
    with pytest.raises(ValueError, match=r"dA must have shape \(1, 2, 2, 1\), got \(1, 2, 2\)"):
        pool_backward(np.zeros((1, 2, 2)), cache)
