"""Tests of the in-place gradient buffers and the blocked optimizer updates."""

from __future__ import annotations

import numpy as np
import pytest

from cnn_core.functional import conv_backward, conv_forward, linear_backward, linear_forward
from cnn_core.network import Network
from cnn_core.optimizers import SGD, Adam, Momentum

DTYPES = [np.float32, np.float64]


def dense_case(dtype, rng):
    A = rng.standard_normal((7, 3)).astype(dtype)
    W = rng.standard_normal((4, 7)).astype(dtype)
    b = rng.standard_normal((4, 1)).astype(dtype)
    dZ = rng.standard_normal((4, 3)).astype(dtype)
    return A, W, b, dZ


def conv_case(dtype, rng):
    A_prev = rng.standard_normal((2, 5, 6, 3)).astype(dtype)
    W = rng.standard_normal((3, 3, 3, 4)).astype(dtype)
    b = rng.standard_normal((1, 1, 1, 4)).astype(dtype)
    return A_prev, W, b


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_dW_out_matches_new_array(dtype):
    A, W, b, dZ = dense_case(dtype, np.random.default_rng(0))
    _, cache = linear_forward(A, W, b)
    expected = linear_backward(dZ, cache)
    buffer = np.full(W.shape, np.nan, dtype=dtype)

    dA_prev, dW, db = linear_backward(dZ, cache, dW_out=buffer)

    assert dW is buffer
    np.testing.assert_array_equal(dW, expected[1])
    np.testing.assert_array_equal(dA_prev, expected[0])
    np.testing.assert_array_equal(db, expected[2])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stride, pad", [(1, 0), (2, 1)])
def test_conv_dW_out_matches_new_array(dtype, stride, pad):
    A_prev, W, b = conv_case(dtype, np.random.default_rng(1))
    Z, cache = conv_forward(A_prev, W, b, stride=stride, pad=pad)
    dZ = np.random.default_rng(2).standard_normal(Z.shape).astype(dtype)
    expected = conv_backward(dZ, cache)
    buffer = np.full(W.shape, np.nan, dtype=dtype)

    dA_prev, dW, db = conv_backward(dZ, cache, dW_out=buffer)

    assert dW is buffer
    np.testing.assert_array_equal(dW, expected[1])
    np.testing.assert_array_equal(dA_prev, expected[0])
    np.testing.assert_array_equal(db, expected[2])


@pytest.mark.parametrize(
    "make_buffer, error, fragment",
    [
        (lambda shape: [[0.0] * shape[1]] * shape[0], TypeError, "got list"),
        (lambda shape: np.zeros(shape[::-1]), ValueError, "must have shape"),
        (lambda shape: np.zeros(shape, dtype=np.float32), ValueError, "dtype float64"),
        (lambda shape: np.zeros(shape[::-1]).T, ValueError, "C-contiguous"),
    ],
)
def test_linear_dW_out_rejects_bad_buffer(make_buffer, error, fragment):
    A, W, b, dZ = dense_case(np.float64, np.random.default_rng(3))
    _, cache = linear_forward(A, W, b)

    with pytest.raises(error, match=fragment):
        linear_backward(dZ, cache, dW_out=make_buffer(W.shape))


def test_conv_dW_out_rejects_read_only_buffer():
    A_prev, W, b = conv_case(np.float64, np.random.default_rng(4))
    Z, cache = conv_forward(A_prev, W, b)
    buffer = np.zeros(W.shape)
    buffer.flags.writeable = False

    with pytest.raises(ValueError, match="dW_out must be a writable C-contiguous array"):
        conv_backward(np.ones_like(Z), cache, dW_out=buffer)


@pytest.mark.parametrize("dtype", DTYPES)
def test_network_grads_keep_their_arrays(dtype):
    spec = [
        {"type": "conv", "filters": 2, "f": 3, "pad": 1},
        {"type": "relu"},
        {"type": "flatten"},
        {"type": "dense", "units": 3},
        {"type": "softmax"},
    ]
    net = Network(spec, input_shape=(4, 4, 1), seed=0, dtype=dtype)
    grads_before = net.gradients()
    X = np.random.default_rng(5).standard_normal((2, 4, 4, 1))

    net.forward(X)
    net.backward(np.ones((3, 2)))
    grads_after = net.gradients()

    for key, array in grads_before.items():
        assert grads_after[key] is array
        assert np.any(array != 0), key


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [10, (1 << 16) + 5, 3 * (1 << 16)])
def test_sgd_blocked_update_matches_formula(dtype, size):
    rng = np.random.default_rng(6)
    param = rng.standard_normal(size).astype(dtype)
    grad = rng.standard_normal(size).astype(dtype)
    expected = param - 0.37 * grad

    SGD(0.37).step({"w": param}, {"w": grad})

    np.testing.assert_array_equal(param, expected)


def test_sgd_strided_gradient_matches_formula():
    rng = np.random.default_rng(7)
    param = rng.standard_normal((300, 400)).astype(np.float32)
    grad = rng.standard_normal((400, 300)).astype(np.float32).T
    expected = param - 0.1 * grad

    SGD(0.1).step({"w": param}, {"w": grad})

    np.testing.assert_array_equal(param, expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [10, 3 * (1 << 16) + 7])
def test_momentum_blocked_update_matches_formula(dtype, size):
    rng = np.random.default_rng(8)
    param = rng.standard_normal(size).astype(dtype)
    grads = [rng.standard_normal(size).astype(dtype) for _ in range(2)]
    expected = param.copy()
    v = np.zeros_like(param)
    for grad in grads:
        v = 0.9 * v + (1.0 - 0.9) * grad
        expected = expected - 0.05 * v

    optimizer = Momentum(0.05, beta=0.9)
    for grad in grads:
        optimizer.step({"w": param}, {"w": grad})

    np.testing.assert_array_equal(param, expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [10, 3 * (1 << 16) + 7])
def test_adam_blocked_update_matches_formula(dtype, size):
    rng = np.random.default_rng(9)
    param = rng.standard_normal(size).astype(dtype)
    grads = [rng.standard_normal(size).astype(dtype) for _ in range(2)]
    expected = param.copy()
    v = np.zeros_like(param)
    s = np.zeros_like(param)
    for t, grad in enumerate(grads, start=1):
        v = 0.9 * v + (1.0 - 0.9) * grad
        s = 0.999 * s + (1.0 - 0.999) * np.square(grad)
        v_hat = v / (1.0 - 0.9**t)
        s_hat = s / (1.0 - 0.999**t)
        expected = expected - 0.01 * v_hat / (np.sqrt(s_hat) + 1e-8)

    optimizer = Adam(0.01)
    for grad in grads:
        optimizer.step({"w": param}, {"w": grad})

    np.testing.assert_array_equal(param, expected)
