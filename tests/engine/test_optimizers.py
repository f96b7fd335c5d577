"""Tests of the optimizers against hand-computed updates and the update formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnn_core.functional import softmax_cross_entropy
from cnn_core.network import Network
from cnn_core.optimizers import SGD, Adam, Momentum, make_optimizer
from cnn_core.training import train

TINY_DENSE = [{"type": "flatten"}, {"type": "dense", "units": 2}, {"type": "softmax"}]


def tiny_dense_net() -> tuple[Network, np.ndarray, np.ndarray]:
    """Return a 2-input, 2-class dense net with zero weights, and a batch of two examples."""
    net = Network(TINY_DENSE, input_shape=(1, 1, 2), dtype=np.float64)
    for value in net.parameters().values():
        value[...] = 0.0
    X = np.array([1.0, 2.0, -1.0, 1.0]).reshape(2, 1, 1, 2)  # x1 = (1, 2), x2 = (-1, 1)
    y = np.array([0, 1])
    return net, X, y


# Worked by hand. With zero weights Z = 0, so p = (0.5, 0.5) for both examples and the loss is
# ln 2. dZ = (p - onehot(y)) / m gives (-0.25, 0.25) for x1 and (0.25, -0.25) for x2.
# dW = dZ @ X.T: row 0 = -0.25 * (1, 2) + 0.25 * (-1, 1) = (-0.5, -0.25), row 1 = (0.5, 0.25).
# db = the row sums of dZ = (0, 0). One SGD step with learning rate 0.1 gives:
EXPECTED_W = np.array([[0.05, 0.025], [-0.05, -0.025]])
EXPECTED_B = np.array([[0.0], [0.0]])
# Then Z1 = W x1 = (0.1, -0.1) and Z2 = W x2 = (-0.025, 0.025), so each example's loss is
# ln(1 + e^-0.2) and ln(1 + e^-0.05).
EXPECTED_LOSS_AFTER = (math.log1p(math.exp(-0.2)) + math.log1p(math.exp(-0.05))) / 2


def test_sgd_single_step_by_hand():
    net, X, y = tiny_dense_net()

    cost, dZ = softmax_cross_entropy(net.forward(X), y)
    net.backward(dZ)
    SGD(0.1).step(net.parameters(), net.gradients())

    assert cost == pytest.approx(math.log(2))
    np.testing.assert_allclose(net.parameters()["1.W"], EXPECTED_W, rtol=1e-12)
    np.testing.assert_allclose(net.parameters()["1.b"], EXPECTED_B, atol=1e-15)
    after, _ = softmax_cross_entropy(net.forward(X), y)
    assert after == pytest.approx(EXPECTED_LOSS_AFTER, rel=1e-12)


def test_train_one_full_batch_matches_hand_step():
    net, X, y = tiny_dense_net()

    history = train(net, X, y, epochs=1, batch_size=2, optimizer="sgd", learning_rate=0.1)

    np.testing.assert_allclose(net.parameters()["1.W"], EXPECTED_W, rtol=1e-12)
    assert history.train_loss == [pytest.approx(math.log(2))]


def random_problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    params = {"0.W": rng.standard_normal((3, 2)), "0.b": rng.standard_normal((3, 1))}
    steps = [
        {key: rng.standard_normal(value.shape) for key, value in params.items()} for _ in "abc"
    ]
    return params, steps


def test_momentum_matches_formula():
    params, steps = random_problem()
    expected = {key: value.copy() for key, value in params.items()}
    velocity = {key: np.zeros_like(value) for key, value in params.items()}
    optimizer = Momentum(0.05, beta=0.8)

    for grads in steps:
        optimizer.step(params, grads)
        for key in expected:
            velocity[key] = 0.8 * velocity[key] + 0.2 * grads[key]
            expected[key] = expected[key] - 0.05 * velocity[key]

    for key in params:
        np.testing.assert_allclose(params[key], expected[key], rtol=1e-12)


def test_adam_matches_formula():
    params, steps = random_problem(1)
    expected = {key: value.copy() for key, value in params.items()}
    v = {key: np.zeros_like(value) for key, value in params.items()}
    s = {key: np.zeros_like(value) for key, value in params.items()}
    lr, beta1, beta2, eps = 0.01, 0.8, 0.99, 1e-7
    optimizer = Adam(lr, beta1=beta1, beta2=beta2, epsilon=eps)

    for t, grads in enumerate(steps, start=1):
        optimizer.step(params, grads)
        for key in expected:
            v[key] = beta1 * v[key] + (1 - beta1) * grads[key]
            s[key] = beta2 * s[key] + (1 - beta2) * grads[key] ** 2
            v_hat = v[key] / (1 - beta1**t)
            s_hat = s[key] / (1 - beta2**t)
            expected[key] = expected[key] - lr * v_hat / (np.sqrt(s_hat) + eps)

    for key in params:
        np.testing.assert_allclose(params[key], expected[key], rtol=1e-12)


def test_adam_first_step_moves_by_learning_rate():
    params = {"w": np.array([1.0, 1.0])}

    Adam(0.1).step(params, {"w": np.array([3.0, -1e-3])})

    # After bias correction the first step is lr * g / |g| (up to epsilon) for every entry.
    np.testing.assert_allclose(params["w"], [0.9, 1.1], rtol=1e-6)


@pytest.mark.parametrize("optimizer", [SGD(0.1), Momentum(0.1), Adam(0.1)])
def test_step_updates_in_place_and_keeps_dtype(optimizer):
    param = np.ones((2, 2), dtype=np.float32)
    params = {"w": param}

    optimizer.step(params, {"w": np.ones((2, 2), dtype=np.float32)})

    assert params["w"] is param
    assert param.dtype == np.float32
    assert (param < 1).all()


def test_make_optimizer_builds_each_kind():
    assert isinstance(make_optimizer("sgd", 0.1), SGD)
    assert make_optimizer("momentum", 0.1, beta=0.5).beta == 0.5
    assert make_optimizer("adam", 0.1, beta2=0.9).beta2 == 0.9


@pytest.mark.parametrize(
    ("args", "options", "error", "match"),
    [
        (("rmsprop", 0.1), {}, ValueError, "optimizer must be one of sgd, momentum, adam"),
        (("sgd", 0.0), {}, ValueError, "learning_rate must be a finite number > 0; got 0.0"),
        (("sgd", float("nan")), {}, ValueError, "learning_rate"),
        (("sgd", "0.1"), {}, TypeError, "learning_rate must be a number; got '0.1'"),
        (("momentum", 0.1), {"beta": 1.0}, ValueError, "0 < beta < 1.0"),
        (("sgd", 0.1), {"beta": 0.9}, TypeError, "does not accept the options \\['beta'\\]"),
    ],
)
def test_make_optimizer_rejects_bad_arguments(args, options, error, match):
    with pytest.raises(error, match=match):
        make_optimizer(*args, **options)


def test_step_rejects_mismatched_gradients():
    optimizer = SGD(0.1)
    params = {"w": np.zeros(2)}

    with pytest.raises(ValueError, match="same keys"):
        optimizer.step(params, {"v": np.zeros(2)})
    with pytest.raises(ValueError, match=r"gradient 'w' has shape \(3,\)"):
        optimizer.step(params, {"w": np.zeros(3)})
