"""Tests of softmax and softmax_cross_entropy."""

import warnings

import numpy as np
import pytest

from cnn_core.functional import softmax, softmax_cross_entropy
from tests.engine.gradcheck import assert_gradient_close, numerical_gradient
from tests.engine.references import softmax_cross_entropy_loops


def raise_on_float_errors():
    """Return a context that turns overflow, invalid values and division by zero into errors."""
    return np.errstate(over="raise", invalid="raise", divide="raise")


@pytest.mark.parametrize("shape", [(2, 1), (3, 4), (10, 7)])
def test_softmax_columns_sum_to_one(shape):
    Z = np.random.default_rng(0).standard_normal(shape)
    probs = softmax(Z)
    np.testing.assert_allclose(probs.sum(axis=0), np.ones(shape[1]))
    np.testing.assert_allclose(probs, np.exp(Z) / np.exp(Z).sum(axis=0), rtol=1e-12)


@pytest.mark.parametrize("shape", [(2, 1), (3, 4), (10, 7)])
def test_cross_entropy_matches_loops(shape):
    rng = np.random.default_rng(1)
    Z = rng.standard_normal(shape) * 3
    y = rng.integers(0, shape[0], size=shape[1])
    cost, _ = softmax_cross_entropy(Z, y)
    assert cost == pytest.approx(softmax_cross_entropy_loops(Z, y), rel=1e-12)


@pytest.mark.parametrize("shape", [(2, 1), (3, 4), (10, 7)])
def test_cross_entropy_gradient_matches_central_differences(shape):
    rng = np.random.default_rng(2)
    Z = rng.standard_normal(shape)
    y = rng.integers(0, shape[0], size=shape[1])
    _, dZ = softmax_cross_entropy(Z, y)

    def loss():
        return softmax_cross_entropy(Z, y)[0]

    assert_gradient_close(dZ, numerical_gradient(loss, Z), "dZ")


def test_cross_entropy_gradient_carries_batch_mean():
    Z = np.zeros((2, 4))
    y = np.array([0, 1, 0, 1])
    _, dZ = softmax_cross_entropy(Z, y)
    np.testing.assert_allclose(dZ[0], [-0.125, 0.125, -0.125, 0.125])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_logits_stay_finite(dtype):
    # Regression: exp(1000) overflows and log(0) of an underflowed probability is -inf.
    Z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 0.0], [0.0, 0.0, 1000.0]], dtype=dtype)
    y = np.array([1, 0, 2])
    with warnings.catch_warnings(), raise_on_float_errors():
        warnings.simplefilter("error")
        probs = softmax(Z)
        cost, dZ = softmax_cross_entropy(Z, y)
    assert np.all(np.isfinite(probs))
    assert np.all(np.isfinite(dZ))
    assert probs.dtype == dtype
    assert dZ.dtype == dtype
    # Examples 0 and 1 put probability exp(-2000) on the true class; example 2 is certain.
    assert cost == pytest.approx((2000 + 2000 + 0) / 3, rel=1e-6)


def test_underflowing_probability_gives_finite_cost():
    Z = np.array([[0.0], [-200.0]], dtype=np.float32)
    with warnings.catch_warnings(), raise_on_float_errors():
        warnings.simplefilter("error")
        probs = softmax(Z)
        cost, dZ = softmax_cross_entropy(Z, np.array([1]))
    assert probs[1, 0] == 0.0
    assert cost == pytest.approx(200.0, rel=1e-6)
    np.testing.assert_allclose(dZ[:, 0], [1.0, -1.0])


def test_cross_entropy_cost_is_python_float():
    cost, _ = softmax_cross_entropy(np.zeros((3, 2), dtype=np.float32), np.array([0, 2]))
    assert type(cost) is float
    assert cost == pytest.approx(np.log(3))


def test_cross_entropy_leaves_arguments_unchanged():
    Z = np.random.default_rng(3).standard_normal((3, 4))
    y = np.array([0, 1, 2, 0])
    before = Z.copy()
    softmax(Z)
    softmax_cross_entropy(Z, y)
    np.testing.assert_array_equal(Z, before)


@pytest.mark.parametrize(
    ("y", "error", "fragment"),
    [
        (np.array([0, 3]), ValueError, "y contains label 3; labels must be in [0, 3)"),
        (np.array([-1, 0]), ValueError, "y contains label -1"),
        (np.array([0.0, 1.0]), TypeError, "y must contain integer class labels, got dtype"),
        (np.array([0, 1, 2]), ValueError, "y must have shape (m,) = (2,) to match Z, got (3,)"),
        (np.array([[0, 1]]), ValueError, "y must have shape (m,)"),
    ],
)
def test_cross_entropy_rejects_bad_labels(y, error, fragment):
    with pytest.raises(error) as info:
        softmax_cross_entropy(np.zeros((3, 2)), y)
    assert fragment in str(info.value)


def test_cross_entropy_rejects_empty_batch():
    with pytest.raises(ValueError, match=r"Z must contain at least one example .* \(3, 0\)"):
        softmax_cross_entropy(np.zeros((3, 0)), np.zeros(0, dtype=int))


def test_softmax_rejects_wrong_rank():
    with pytest.raises(ValueError, match=r"Z must have 2 dimensions \(n_classes, m\), got shape"):
        softmax(np.zeros(3))
