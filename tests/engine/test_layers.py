"""Tests of the layer classes and the weight initializers."""

from __future__ import annotations

import numpy as np
import pytest

from cnn_core import functional as F
from cnn_core.initializers import initialize_weights
from cnn_core.layers import (
    LAYER_CLASSES,
    AvgPool2D,
    Conv2D,
    Dense,
    Flatten,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Softmax,
    SpecError,
    build_layer,
)
from cnn_core.network import Network, normalize_spec

from .gradcheck import assert_gradient_close, numerical_gradient, projected_loss


def layer_spec(**spec) -> dict:
    """Return a spec dict as normalize_spec gives it, for one layer."""
    tail = [{"type": "flatten"}, {"type": "dense", "units": 2}, {"type": "softmax"}]
    return normalize_spec([spec, *tail])[0]


def test_layer_classes_cover_every_type():
    assert set(LAYER_CLASSES) == {
        "conv",
        "relu",
        "sigmoid",
        "maxpool",
        "avgpool",
        "flatten",
        "dense",
        "softmax",
    }
    assert LAYER_CLASSES["conv"] is Conv2D
    assert LAYER_CLASSES["avgpool"] is AvgPool2D


@pytest.mark.parametrize(
    ("spec", "input_shape", "output_shape"),
    [
        ({"type": "conv", "filters": 4, "f": 3}, (7, 5, 2), (5, 3, 4)),
        ({"type": "conv", "filters": 4, "f": 3, "stride": 2, "pad": 1}, (7, 6, 2), (4, 3, 4)),
        ({"type": "conv", "filters": 1, "f": 5, "stride": 3, "pad": 2}, (8, 8, 3), (3, 3, 1)),
        ({"type": "maxpool", "f": 2}, (7, 6, 3), (3, 3, 3)),
        ({"type": "maxpool", "f": 3, "stride": 1}, (5, 4, 1), (3, 2, 1)),
        ({"type": "avgpool", "f": 3, "stride": 2}, (8, 7, 2), (3, 3, 2)),
        ({"type": "relu"}, (3, 4, 5), (3, 4, 5)),
        ({"type": "sigmoid"}, (3, 4, 5), (3, 4, 5)),
        ({"type": "flatten"}, (3, 4, 5), (60,)),
    ],
)
def test_output_shape_matches_functional(spec, input_shape, output_shape):
    layer = build_layer(layer_spec(**spec), input_shape, rng=np.random.default_rng(0))
    A_prev = np.random.default_rng(1).standard_normal((2, *input_shape))

    A = layer.forward(A_prev)

    assert layer.output_shape == output_shape
    per_example = A.shape[1:] if A.ndim == 4 else A.shape[:1]
    assert per_example == output_shape


def test_conv_params_and_forward_use_functional():
    spec = layer_spec(type="conv", filters=3, f=2, stride=2, pad=1)
    layer = Conv2D(spec, (5, 4, 2), rng=np.random.default_rng(0), dtype=np.float64)
    layer.params["b"][...] = np.arange(3).reshape(1, 1, 1, 3)
    A_prev = np.random.default_rng(1).standard_normal((2, 5, 4, 2))

    Z = layer.forward(A_prev)

    assert layer.params["W"].shape == (2, 2, 2, 3)
    assert layer.params["b"].shape == (1, 1, 1, 3)
    expected, _ = F.conv_forward(A_prev, layer.params["W"], layer.params["b"], stride=2, pad=1)
    np.testing.assert_array_equal(Z, expected)


def test_dense_params_shapes_and_dtype():
    layer = Dense(layer_spec(type="dense", units=4), (6,), rng=np.random.default_rng(0))

    assert layer.params["W"].shape == (4, 6)
    assert layer.params["b"].shape == (4, 1)
    assert layer.params["W"].dtype == np.float32
    assert layer.grads.keys() == layer.params.keys()


@pytest.mark.parametrize(
    ("spec", "input_shape"),
    [
        ({"type": "conv", "filters": 2, "f": 3, "stride": 2, "pad": 1}, (5, 4, 2)),
        ({"type": "dense", "units": 3}, (4,)),
    ],
)
def test_layer_gradients_match_central_differences(spec, input_shape):
    layer = build_layer(
        layer_spec(**spec), input_shape, rng=np.random.default_rng(0), dtype=np.float64
    )
    rng = np.random.default_rng(1)
    if len(input_shape) == 3:
        A_prev = rng.standard_normal((2, *input_shape))
    else:
        A_prev = rng.standard_normal((*input_shape, 2))
    out = layer.forward(A_prev)
    weights = rng.standard_normal(out.shape)

    def loss() -> float:
        value = projected_loss(layer.forward(A_prev), weights)
        layer.clear_cache()
        return value

    dA_prev = layer.backward(weights)
    grads = {key: grad.copy() for key, grad in layer.grads.items()}

    for key, param in layer.params.items():
        assert_gradient_close(grads[key], numerical_gradient(loss, param), key)
    assert_gradient_close(dA_prev, numerical_gradient(loss, A_prev), "dA_prev")


@pytest.mark.parametrize("cls", [ReLU, Sigmoid, MaxPool2D, AvgPool2D, Flatten])
def test_backward_matches_functional(cls):
    spec = {"type": cls.type}
    if cls in (MaxPool2D, AvgPool2D):
        spec["f"] = 2
    layer = build_layer(layer_spec(**spec), (4, 5, 2))
    rng = np.random.default_rng(2)
    A_prev = rng.standard_normal((3, 4, 5, 2))

    A = layer.forward(A_prev)
    dA = rng.standard_normal(A.shape)
    dA_prev = layer.backward(dA)

    assert dA_prev.shape == A_prev.shape
    if cls is ReLU:
        np.testing.assert_array_equal(dA_prev, np.where(A_prev > 0, dA, 0))
    if cls is Flatten:
        np.testing.assert_array_equal(dA_prev, dA.T.reshape(A_prev.shape))


def test_backward_needs_a_forward_each_time():
    layer = build_layer(layer_spec(type="relu"), (2, 2, 1))
    layer.forward(np.ones((1, 2, 2, 1)))
    layer.backward(np.ones((1, 2, 2, 1)))

    with pytest.raises(RuntimeError, match="'relu1': backward\\(\\) called before forward\\(\\)"):
        layer.backward(np.ones((1, 2, 2, 1)))


def test_softmax_layer_forward_and_backward():
    layer = Softmax({"type": "softmax", "name": "softmax1"}, (3,))

    probs = layer.forward(np.array([[0.0, 1000.0], [0.0, -1000.0], [0.0, 0.0]]))

    np.testing.assert_allclose(probs[:, 0], [1 / 3, 1 / 3, 1 / 3])
    np.testing.assert_allclose(probs[:, 1], [1.0, 0.0, 0.0])
    with pytest.raises(NotImplementedError, match="Network.backward"):
        layer.backward(probs)


def test_dense_on_a_map_names_flatten():
    with pytest.raises(SpecError, match="add a 'flatten' layer before it"):
        build_layer(layer_spec(type="dense", units=2) | {"name": "fc"}, (3, 3, 1))


def test_he_initializer_scale():
    rng = np.random.default_rng(0)

    W = initialize_weights("he", (3, 3, 16, 64), 3 * 3 * 16, rng)

    assert W.dtype == np.float32
    assert W.std() == pytest.approx(np.sqrt(2 / 144), rel=0.05)
    assert abs(W.mean()) < 0.01


def test_seed_initializer_scale():
    W = initialize_weights("seed", (200, 100), 100, np.random.default_rng(0), np.float64)

    assert W.dtype == np.float64
    assert W.std() == pytest.approx(0.01, rel=0.05)


def test_initializer_is_seeded():
    first = initialize_weights("he", (4, 4), 4, np.random.default_rng(5))
    second = initialize_weights("he", (4, 4), 4, np.random.default_rng(5))

    np.testing.assert_array_equal(first, second)


def test_network_uses_named_initializer():
    spec = [{"type": "flatten"}, {"type": "dense", "units": 400}, {"type": "softmax"}]

    he = Network(spec, input_shape=(10, 10, 2), init="he")
    seed = Network(spec, input_shape=(10, 10, 2), init="seed")

    assert he.parameters()["1.W"].std() == pytest.approx(np.sqrt(2 / 200), rel=0.05)
    assert seed.parameters()["1.W"].std() == pytest.approx(0.01, rel=0.05)
    assert not seed.parameters()["1.b"].any()


@pytest.mark.parametrize("init", ["xavier", "", None])
def test_unknown_initializer_rejected(init):
    with pytest.raises(ValueError, match="init must be one of he, seed"):
        Network(
            [{"type": "flatten"}, {"type": "dense", "units": 2}, {"type": "softmax"}],
            input_shape=(2, 2, 1),
            init=init,
        )
