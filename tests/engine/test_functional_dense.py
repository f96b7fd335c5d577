"""Tests of linear_forward/linear_backward, flatten/unflatten, relu and sigmoid."""

import warnings

import numpy as np
import pytest

from cnn_core.functional import (
    flatten,
    linear_backward,
    linear_forward,
    relu,
    relu_backward,
    sigmoid,
    sigmoid_backward,
    unflatten,
)
from tests.engine.gradcheck import assert_gradient_close, numerical_gradient, projected_loss

DENSE_SHAPES = [(1, 1, 1), (3, 5, 2), (7, 4, 5), (2, 9, 1)]  # (n_out, n_in, m)
ACTIVATION_SHAPES = [(4,), (3, 5), (2, 3, 4, 1)]


def make_dense_inputs(n_out, n_in, m, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n_in, m)).astype(dtype)
    W = rng.standard_normal((n_out, n_in)).astype(dtype)
    b = rng.standard_normal((n_out, 1)).astype(dtype)
    return A, W, b


@pytest.mark.parametrize("shape", DENSE_SHAPES)
def test_linear_forward_matches_loops(shape):
    A, W, b = make_dense_inputs(*shape)
    Z, _ = linear_forward(A, W, b)
    expected = np.zeros(Z.shape)
    for i in range(shape[2]):
        for k in range(shape[0]):
            expected[k, i] = sum(W[k, j] * A[j, i] for j in range(shape[1])) + b[k, 0]
    np.testing.assert_allclose(Z, expected, rtol=1e-12)


@pytest.mark.parametrize("shape", DENSE_SHAPES)
def test_linear_gradients_match_central_differences(shape):
    A, W, b = make_dense_inputs(*shape)
    Z, cache = linear_forward(A, W, b)
    weights = np.random.default_rng(1).standard_normal(Z.shape)
    dA_prev, dW, db = linear_backward(weights, cache)

    def loss():
        return projected_loss(linear_forward(A, W, b)[0], weights)

    assert_gradient_close(dA_prev, numerical_gradient(loss, A), "dA_prev")
    assert_gradient_close(dW, numerical_gradient(loss, W), "dW")
    assert_gradient_close(db, numerical_gradient(loss, b), "db")


def test_linear_backward_does_not_divide_by_batch_size():
    # Regression: the classic dense backward divides by m, which then double-counts the loss mean.
    A, W, b = make_dense_inputs(2, 3, 4)
    _, cache = linear_forward(A, W, b)
    dA_prev, dW, db = linear_backward(np.ones((2, 4)), cache)
    np.testing.assert_allclose(db, np.full((2, 1), 4.0))
    np.testing.assert_allclose(dW, np.ones((2, 4)) @ A.T)
    np.testing.assert_allclose(dA_prev, W.T @ np.ones((2, 4)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_keeps_dtype(dtype):
    A, W, b = make_dense_inputs(3, 4, 2, dtype=dtype)
    Z, cache = linear_forward(A, W, b)
    grads = linear_backward(np.ones_like(Z), cache)
    assert Z.dtype == dtype
    assert all(grad.dtype == dtype for grad in grads)


def test_linear_leaves_arguments_unchanged():
    A, W, b = make_dense_inputs(3, 4, 2)
    originals = [A.copy(), W.copy(), b.copy()]
    Z, cache = linear_forward(A, W, b)
    linear_backward(np.ones_like(Z), cache)
    for before, after in zip(originals, (A, W, b), strict=True):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize(
    ("shapes", "fragment"),
    [
        (((4, 2), (3, 5), (3, 1)), "A has 4 features (shape (4, 2)) but W expects 5"),
        (((5,), (3, 5), (3, 1)), "A must have 2 dimensions (n_in, m)"),
        (((5, 2), (3, 5, 1), (3, 1)), "W must have 2 dimensions (n_out, n_in)"),
        (((5, 2), (3, 5), (3,)), "b must have shape (3, 1), got (3,)"),
    ],
)
def test_linear_rejects_bad_shapes(shapes, fragment):
    A, W, b = (np.zeros(shape) for shape in shapes)
    with pytest.raises(ValueError) as info:
        linear_forward(A, W, b)
    assert fragment in str(info.value)


def test_flatten_orders_each_example_in_c_order():
    A_prev = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)
    A_flat, _ = flatten(A_prev)
    assert A_flat.shape == (12, 2)
    assert A_flat.dtype == np.float32
    np.testing.assert_array_equal(A_flat[:, 1], A_prev[1].ravel())


def test_unflatten_inverts_flatten():
    A_prev = np.random.default_rng(2).standard_normal((3, 4, 5, 2))
    A_flat, cache = flatten(A_prev)
    np.testing.assert_array_equal(unflatten(A_flat, cache), A_prev)


def test_unflatten_of_dense_gradient():
    A_prev = np.random.default_rng(3).standard_normal((2, 3, 3, 2))
    A_flat, flat_cache = flatten(A_prev)
    W = np.random.default_rng(4).standard_normal((4, 18))
    Z, cache = linear_forward(A_flat, W, np.zeros((4, 1)))
    dA_flat, _, _ = linear_backward(np.ones_like(Z), cache)
    dA_prev = unflatten(dA_flat, flat_cache)
    expected = np.broadcast_to(W.sum(axis=0).reshape(3, 3, 2), (2, 3, 3, 2))
    np.testing.assert_allclose(dA_prev, expected)


def test_unflatten_rejects_wrong_shape():
    _, cache = flatten(np.zeros((2, 3, 3, 2)))
    with pytest.raises(ValueError, match=r"dA_flat must have shape \(18, 2\), got \(2, 18\)"):
        unflatten(np.zeros((2, 18)), cache)


@pytest.mark.parametrize("shape", ACTIVATION_SHAPES)
@pytest.mark.parametrize(
    ("forward", "backward"), [(relu, relu_backward), (sigmoid, sigmoid_backward)]
)
def test_activation_gradient_matches_central_differences(forward, backward, shape):
    Z = np.random.default_rng(5).standard_normal(shape)
    A, cache = forward(Z)
    weights = np.random.default_rng(6).standard_normal(A.shape)
    dZ = backward(weights, cache)

    def loss():
        return projected_loss(forward(Z)[0], weights)

    assert_gradient_close(dZ, numerical_gradient(loss, Z), "dZ")


def test_relu_values_and_zero_gradient_at_zero():
    Z = np.array([[-2.0, 0.0, 3.0]], dtype=np.float32)
    A, cache = relu(Z)
    np.testing.assert_array_equal(A, [[0.0, 0.0, 3.0]])
    dZ = relu_backward(np.ones_like(Z), cache)
    np.testing.assert_array_equal(dZ, [[0.0, 0.0, 1.0]])
    assert A.dtype == np.float32
    assert dZ.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_extreme_logits_are_finite(dtype):
    # Regression: 1 / (1 + exp(-Z)) overflows in exp for Z = -1000.
    Z = np.array([[-1000.0, -50.0, 0.0, 50.0, 1000.0]], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        A, cache = sigmoid(Z)
        dZ = sigmoid_backward(np.ones_like(Z), cache)
    assert A.dtype == dtype
    assert np.all(np.isfinite(A))
    assert np.all(np.isfinite(dZ))
    np.testing.assert_allclose(A[0, [0, 2, 4]], [0.0, 0.5, 1.0])


def test_sigmoid_matches_formula():
    Z = np.linspace(-8, 8, 17)
    A, _ = sigmoid(Z)
    np.testing.assert_allclose(A, 1 / (1 + np.exp(-Z)), rtol=1e-14)


def test_activation_backward_rejects_wrong_shape():
    _, cache = relu(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"dA must have shape \(2, 3\), got \(3, 2\)"):
        relu_backward(np.zeros((3, 2)), cache)
