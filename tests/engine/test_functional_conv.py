"""Tests of zero_pad, conv_forward and conv_backward."""

import numpy as np
import pytest

from cnn_core.functional import conv_backward, conv_forward, unpad, zero_pad
from tests.engine.gradcheck import assert_gradient_close, numerical_gradient, projected_loss
from tests.engine.references import conv_backward_loops, conv_forward_loops, pad_loops

# (m, n_H_prev, n_W_prev, n_C_prev, n_C, f, stride, pad): non-square and odd sizes, strides 1-3,
# pads 0-2, and windows whose last stride step does not reach the border.
CONV_CASES = [
    (2, 5, 7, 3, 4, 3, 1, 0),
    (2, 5, 7, 3, 4, 3, 1, 1),
    (1, 6, 5, 2, 3, 3, 2, 0),
    (2, 7, 6, 2, 3, 3, 2, 1),
    (2, 8, 7, 1, 2, 2, 3, 2),
    (1, 4, 4, 3, 2, 1, 1, 0),
    (3, 6, 9, 2, 2, 4, 3, 1),
    (1, 3, 3, 2, 2, 5, 1, 2),
]


def make_conv_inputs(case, dtype=np.float64, seed=0):
    m, n_H_prev, n_W_prev, n_C_prev, n_C, f, _, _ = case
    rng = np.random.default_rng(seed)
    A_prev = rng.standard_normal((m, n_H_prev, n_W_prev, n_C_prev)).astype(dtype)
    W = rng.standard_normal((f, f, n_C_prev, n_C)).astype(dtype)
    b = rng.standard_normal((1, 1, 1, n_C)).astype(dtype)
    return A_prev, W, b


@pytest.mark.parametrize("pad", [0, 1, 2])
def test_zero_pad_matches_loops(pad):
    X = np.random.default_rng(1).standard_normal((2, 3, 4, 2))
    np.testing.assert_array_equal(zero_pad(X, pad), pad_loops(X, pad))


@pytest.mark.parametrize("pad", [0, 1, 3])
def test_unpad_inverts_zero_pad(pad):
    # Regression: slicing with [pad:-pad] returns an empty array when pad is 0.
    X = np.random.default_rng(2).standard_normal((2, 3, 4, 2))
    restored = unpad(zero_pad(X, pad), pad)
    assert restored.shape == X.shape
    np.testing.assert_array_equal(restored, X)


def test_zero_pad_returns_new_array_at_pad_zero():
    X = np.ones((1, 2, 2, 1), dtype=np.float32)
    X_pad = zero_pad(X, 0)
    X_pad[0, 0, 0, 0] = 5
    assert X[0, 0, 0, 0] == 1
    assert X_pad.dtype == np.float32


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_forward_matches_loops(case):
    stride, pad = case[6], case[7]
    A_prev, W, b = make_conv_inputs(case)
    Z, _ = conv_forward(A_prev, W, b, stride=stride, pad=pad)
    np.testing.assert_allclose(Z, conv_forward_loops(A_prev, W, b, stride, pad), rtol=1e-12)


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_backward_matches_loops(case):
    stride, pad = case[6], case[7]
    A_prev, W, b = make_conv_inputs(case)
    Z, cache = conv_forward(A_prev, W, b, stride=stride, pad=pad)
    dZ = np.random.default_rng(3).standard_normal(Z.shape)

    dA_prev, dW, db = conv_backward(dZ, cache)

    expected = conv_backward_loops(dZ, A_prev, W, stride, pad)
    for name, got, want in zip(("dA_prev", "dW", "db"), (dA_prev, dW, db), expected, strict=True):
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_gradients_match_central_differences(case):
    stride, pad = case[6], case[7]
    A_prev, W, b = make_conv_inputs(case)
    Z, cache = conv_forward(A_prev, W, b, stride=stride, pad=pad)
    weights = np.random.default_rng(4).standard_normal(Z.shape)
    dA_prev, dW, db = conv_backward(weights, cache)

    def loss():
        return projected_loss(conv_forward(A_prev, W, b, stride=stride, pad=pad)[0], weights)

    assert_gradient_close(dA_prev, numerical_gradient(loss, A_prev), "dA_prev")
    assert_gradient_close(dW, numerical_gradient(loss, W), "dW")
    assert_gradient_close(db, numerical_gradient(loss, b), "db")


def test_conv_gradients_are_sums_over_batch():
    # Regression: in the classic code only dense backward divided by m. No backward divides by m
    # here, so a batch of two copies of one example gives exactly twice its weight gradient.
    A_prev, W, b = make_conv_inputs((1, 5, 5, 2, 3, 3, 1, 1))
    _, cache_one = conv_forward(A_prev, W, b, pad=1)
    Z_two, cache_two = conv_forward(np.concatenate([A_prev, A_prev]), W, b, pad=1)
    dZ = np.ones(Z_two.shape)

    _, dW_one, db_one = conv_backward(dZ[:1], cache_one)
    _, dW_two, db_two = conv_backward(dZ, cache_two)

    np.testing.assert_allclose(dW_two, 2 * dW_one)
    np.testing.assert_allclose(db_two, 2 * db_one)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_keeps_dtype(dtype):
    A_prev, W, b = make_conv_inputs((2, 6, 5, 3, 4, 3, 1, 1), dtype=dtype)
    Z, cache = conv_forward(A_prev, W, b, stride=1, pad=1)
    dA_prev, dW, db = conv_backward(np.ones_like(Z), cache)
    assert Z.dtype == dtype
    assert cache.A_pad.dtype == dtype
    assert dA_prev.dtype == dtype
    assert dW.dtype == dtype
    assert db.dtype == dtype


def test_conv_float32_close_to_float64():
    A_prev, W, b = make_conv_inputs((2, 6, 5, 3, 4, 3, 2, 1))
    Z64, _ = conv_forward(A_prev, W, b, stride=2, pad=1)
    Z32, _ = conv_forward(
        A_prev.astype(np.float32), W.astype(np.float32), b.astype(np.float32), stride=2, pad=1
    )
    np.testing.assert_allclose(Z32, Z64, rtol=1e-4, atol=1e-5)


def test_conv_leaves_arguments_unchanged():
    A_prev, W, b = make_conv_inputs((2, 5, 5, 2, 3, 3, 1, 1))
    originals = [A_prev.copy(), W.copy(), b.copy()]
    Z, cache = conv_forward(A_prev, W, b, stride=1, pad=1)
    dZ = np.ones_like(Z)
    conv_backward(dZ, cache)
    for before, after in zip(originals, (A_prev, W, b), strict=True):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(dZ, np.ones_like(Z))


def test_conv_accepts_noncontiguous_input():
    A_prev, W, b = make_conv_inputs((2, 5, 6, 3, 2, 3, 1, 1))
    A_view = np.asfortranarray(A_prev)[:, ::-1]
    Z, _ = conv_forward(A_view, W, b, pad=1)
    np.testing.assert_allclose(Z, conv_forward_loops(A_view, W, b, 1, 1), rtol=1e-12)


def test_conv_cache_exposes_padded_input():
    A_prev, W, b = make_conv_inputs((1, 4, 5, 2, 2, 3, 1, 2))
    _, cache = conv_forward(A_prev, W, b, pad=2)
    np.testing.assert_array_equal(cache.A_pad, pad_loops(A_prev, 2))


def test_conv_converts_integer_images_to_float32():
    A_prev = np.arange(2 * 4 * 4 * 1, dtype=np.uint8).reshape(2, 4, 4, 1)
    W = np.ones((3, 3, 1, 1), dtype=np.float32)
    b = np.zeros((1, 1, 1, 1), dtype=np.float32)
    Z, _ = conv_forward(A_prev, W, b)
    assert Z.dtype == np.float32
    assert Z[0, 0, 0, 0] == A_prev[0, :3, :3, 0].sum()


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"stride": 0}, ValueError, "stride must be an integer >= 1, got 0"),
        ({"stride": 1.5}, TypeError, "stride must be an integer >= 1, got 1.5"),
        ({"stride": True}, TypeError, "stride must be an integer >= 1, got True"),
        ({"pad": -1}, ValueError, "pad must be an integer >= 0, got -1"),
        ({"pad": 0, "f": 6}, ValueError, "f=6 is larger than the padded input"),
        ({"A_shape": (4, 4, 2)}, ValueError, "A_prev must have 4 dimensions"),
        ({"W_shape": (3, 3, 2)}, ValueError, "W must have 4 dimensions"),
        ({"W_shape": (3, 2, 2, 1)}, ValueError, "W must have square f x f filters"),
        ({"W_shape": (3, 3, 5, 1)}, ValueError, "W has 5 input channels"),
        ({"b_shape": (1,)}, ValueError, "b must have shape (1, 1, 1, 1), got (1,)"),
    ],
)
def test_conv_rejects_bad_arguments(kwargs, error, fragment):
    kwargs = dict(kwargs)
    f = kwargs.pop("f", 3)
    A_prev = np.zeros(kwargs.pop("A_shape", (1, 4, 5, 2)))
    W = np.zeros(kwargs.pop("W_shape", (f, f, 2, 1)))
    b = np.zeros(kwargs.pop("b_shape", (1, 1, 1, W.shape[-1])))
    with pytest.raises(error) as info:
        conv_forward(A_prev, W, b, **kwargs)
    assert fragment in str(info.value)


def test_conv_rejects_complex_input():
    ones = np.ones((1, 1, 1, 1))
    with pytest.raises(TypeError, match="A_prev must be a real-valued numeric array"):
        conv_forward(np.zeros((1, 3, 3, 1), complex), ones, ones)


def test_conv_backward_rejects_wrong_gradient_shape():
    A_prev, W, b = make_conv_inputs((1, 5, 5, 2, 3, 3, 1, 0))
    _, cache = conv_forward(A_prev, W, b)
    with pytest.raises(ValueError, match=r"dZ must have shape \(1, 3, 3, 3\), got \(1, 3, 3, 2\)"):
        conv_backward(np.zeros((1, 3, 3, 2)), cache)


def test_unpad_rejects_pad_larger_than_input():
    with pytest.raises(ValueError, match="pad=3 removes more than the whole of X_pad"):
        unpad(np.zeros((1, 4, 6, 1)), 3)


def test_conv_adds_each_channel_bias():
    # Regression: float() of a (1, 1, 1) bias slice raises on NumPy 2.4, so the bias is broadcast.
    A_prev = np.zeros((2, 3, 3, 2), dtype=np.float32)
    W = np.zeros((2, 2, 2, 3), dtype=np.float32)
    b = np.array([1.5, -2.0, 0.25], dtype=np.float32).reshape(1, 1, 1, 3)

    Z, _ = conv_forward(A_prev, W, b)

    assert Z.shape == (2, 2, 2, 3)
    for c in range(3):
        assert np.all(Z[..., c] == b[0, 0, 0, c])
