"""Tests of Network: spec normalization, shape inference, gradients and the forward trace."""

from __future__ import annotations

import copy
import inspect
import json

import numpy as np
import pytest

from cnn_core.functional import softmax, softmax_cross_entropy
from cnn_core.layers import SpecError
from cnn_core.network import Network, infer_shapes, normalize_spec, parameter_shapes
from cnn_core.presets import PRESETS, preset_layers
from cnn_core.training import train

from .gradcheck import assert_gradient_close, numerical_gradient

# Every layer type once, with a pad, a stride of 2, an overlapping max-pool and an average pool
# whose window does not divide its input.
ALL_TYPES_SPEC = [
    {"type": "conv", "filters": 3, "f": 3, "pad": 1},
    {"type": "relu"},
    {"type": "maxpool", "f": 3, "stride": 1},
    {"type": "conv", "filters": 4, "f": 2, "stride": 2},
    {"type": "sigmoid"},
    {"type": "avgpool", "f": 2, "stride": 1},
    {"type": "flatten"},
    {"type": "dense", "units": 5},
    {"type": "relu"},
    {"type": "dense", "units": 3},
    {"type": "softmax"},
]


def small_net(dtype=np.float64, seed=0) -> Network:
    return Network(ALL_TYPES_SPEC, input_shape=(7, 8, 2), dtype=dtype, seed=seed)


def test_network_gradient_matches_central_differences():
    net = small_net()
    rng = np.random.default_rng(1)
    X = rng.standard_normal((3, 7, 8, 2))
    y = np.array([0, 2, 1])

    def loss() -> float:
        cost, _ = softmax_cross_entropy(net.forward(X), y)
        net.clear_cache()
        return cost

    _, dZ = softmax_cross_entropy(net.forward(X), y)
    dX = net.backward(dZ)
    analytic = {key: grad.copy() for key, grad in net.gradients().items()}

    for key, param in net.parameters().items():
        numeric = numerical_gradient(loss, param)
        assert_gradient_close(analytic[key], numeric, key, rtol=1e-5, atol=1e-8)
    assert_gradient_close(dX, numerical_gradient(loss, X), "dX", rtol=1e-5, atol=1e-8)


def test_parameters_are_live_and_keyed_by_layer_index():
    net = small_net()
    params = net.parameters()

    assert sorted(params) == ["0.W", "0.b", "3.W", "3.b", "7.W", "7.b", "9.W", "9.b"]
    assert net.gradients().keys() == params.keys()
    for key, grad in net.gradients().items():
        assert grad.shape == params[key].shape
    assert params["0.W"] is net.layers[0].params["W"]
    assert net.n_params == sum(value.size for value in params.values())

    X = np.ones((1, 7, 8, 2))
    before = net.forward(X).copy()
    params["9.b"][0, 0] += 1.0
    after = net.forward(X)
    assert after[0, 0] == pytest.approx(before[0, 0] + 1.0)


def test_output_shapes_follow_the_formulas():
    net = small_net()

    # conv pad 1 keeps 7x8; pool 3/1 gives 5x6; conv 2/2 gives 2x3; avgpool 2/1 gives 1x2.
    assert net.output_shapes == [
        (7, 8, 3),
        (7, 8, 3),
        (5, 6, 3),
        (2, 3, 4),
        (2, 3, 4),
        (1, 2, 4),
        (8,),
        (5,),
        (5,),
        (3,),
        (3,),
    ]
    assert net.n_classes == 3
    assert net.layers[7].params["W"].shape == (5, 8)


def test_seed_preset_dense_input_is_inferred():
    spec = preset_layers("seed", 10)
    flatten_index = [layer["type"] for layer in spec].index("flatten")

    shapes_rgb = infer_shapes(spec, (32, 32, 3))
    shapes_gray = infer_shapes(spec, (28, 28, 1))

    assert shapes_rgb[flatten_index] == (26 * 26 * 128,) == (86528,)
    assert shapes_gray[flatten_index] == (22 * 22 * 128,)


def test_seed_preset_dense_weights_follow_input():
    net = Network(preset_layers("seed", 4), input_shape=(12, 12, 3))
    dense = net.layers[10]

    assert dense.type == "dense"
    assert dense.params["W"].shape == (256, 6 * 6 * 128)
    assert net.forward(np.zeros((2, 12, 12, 3), np.float32)).shape == (4, 2)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_build_on_their_input_shape(name):
    shapes = infer_shapes(preset_layers(name, 10), PRESETS[name].input_shape)

    assert shapes[-1] == (10,)


def test_names_filled_per_type():
    spec = normalize_spec(
        [
            {"type": "conv", "filters": 2, "f": 1, "name": "conv2"},
            {"type": "relu"},
            {"type": "conv", "filters": 2, "f": 1},
            {"type": "flatten"},
            {"type": "dense", "units": 2},
            {"type": "softmax", "name": "probabilities"},
        ]
    )

    assert [layer["name"] for layer in spec] == [
        "conv2",
        "relu1",
        "conv1",
        "flatten1",
        "dense1",
        "probabilities",
    ]


def test_defaults_filled_and_input_unchanged():
    layers = [
        {"type": "conv", "filters": 2, "f": 3},
        {"type": "maxpool", "f": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 2},
        {"type": "softmax"},
    ]
    original = copy.deepcopy(layers)

    spec = normalize_spec(layers)

    assert layers == original
    assert spec[0] == {"type": "conv", "name": "conv1", "filters": 2, "f": 3, "stride": 1, "pad": 0}
    assert spec[1] == {"type": "maxpool", "name": "maxpool1", "f": 2, "stride": 2}


def test_spec_round_trips_through_json():
    net = small_net()

    rebuilt = Network(json.loads(json.dumps(net.spec)), input_shape=net.input_shape)

    assert rebuilt.spec == net.spec
    assert rebuilt.output_shapes == net.output_shapes


TAIL = [{"type": "flatten"}, {"type": "dense", "units": 2}, {"type": "softmax"}]


@pytest.mark.parametrize(
    ("layers", "input_shape", "fragments"),
    [
        (
            [{"type": "conv", "filters": 2, "f": 3}, {"type": "dense", "units": 2}, TAIL[2]],
            (6, 6, 1),
            ["layer 1", "'dense1'", "type 'dense'", "(4, 4, 2)", "flatten"],
        ),
        (
            [{"type": "maxpool", "f": 5}, *TAIL],
            (4, 6, 1),
            ["layer 0", "'maxpool1'", "(4, 6, 1)", "5x5 window is larger"],
        ),
        (
            [{"type": "conv", "filters": 2, "f": 7, "pad": 1}, *TAIL],
            (4, 4, 1),
            ["layer 0", "'conv1'", "padded input 6x6"],
        ),
        ([{"type": "dropout"}, *TAIL], (4, 4, 1), ["layer 0", "unknown layer type 'dropout'"]),
        (
            [{"type": "conv", "filters": 2, "f": 1, "padding": 1}, *TAIL],
            (4, 4, 1),
            ["layer 0", "type 'conv'", "unknown keys ['padding']"],
        ),
        (
            [{"type": "conv", "filters": 2.5, "f": 1}, *TAIL],
            (4, 4, 1),
            ["layer 0", "filters must be an integer >= 1", "2.5"],
        ),
        (
            [{"type": "conv", "filters": "8", "f": 1}, *TAIL],
            (4, 4, 1),
            ["filters must be an integer", "'8'"],
        ),
        (
            [{"type": "conv", "filters": True, "f": 1}, *TAIL],
            (4, 4, 1),
            ["filters must be an integer", "True"],
        ),
        (
            [{"type": "conv", "filters": 2, "f": 1, "pad": -1}, *TAIL],
            (4, 4, 1),
            ["pad must be an integer >= 0", "-1"],
        ),
        ([{"type": "conv", "f": 1}, *TAIL], (4, 4, 1), ["missing required key 'filters'"]),
        ([*TAIL[:2]], (4, 4, 1), ["layer 1", "last layer must be 'softmax'"]),
        (
            [{"type": "flatten"}, {"type": "softmax"}],
            (4, 4, 1),
            ["layer 1", "must follow a 'dense' layer"],
        ),
        (
            [{"type": "flatten"}, {"type": "softmax"}, {"type": "dense", "units": 2}, TAIL[2]],
            (4, 4, 1),
            ["layer 1", "must be the last layer"],
        ),
        (
            [{"type": "flatten"}, {"type": "dense", "units": 1}, TAIL[2]],
            (4, 4, 1),
            ["layer 1", "units >= 2"],
        ),
        (
            [{"type": "relu", "name": "a"}, {"type": "relu", "name": "a"}, *TAIL],
            (4, 4, 1),
            ["layer 1", "duplicate name 'a'"],
        ),
        ([*TAIL, {"type": "flatten"}, *TAIL], (4, 4, 1), ["must be the last layer"]),
        (
            [{"type": "flatten"}, {"type": "flatten"}, *TAIL[1:]],
            (4, 4, 1),
            ["layer 1", "'flatten2'", "(16,)", "feature map"],
        ),
        ([], (4, 4, 1), ["spec is empty"]),
        ([["conv"], *TAIL], (4, 4, 1), ["layer 0", "must be a dict"]),
    ],
)
def test_spec_error_names_layer(layers, input_shape, fragments):
    with pytest.raises(SpecError) as info:
        Network(layers, input_shape=input_shape)

    message = str(info.value)
    for fragment in fragments:
        assert fragment in message


def test_spec_error_is_value_error_with_fields():
    layers = [{"type": "conv", "filters": 2, "f": 3}, {"type": "dense", "units": 2}, TAIL[2]]

    with pytest.raises(ValueError) as info:
        infer_shapes(layers, (5, 5, 1))

    error = info.value
    assert isinstance(error, SpecError)
    assert error.index == 1
    assert error.name == "dense1"
    assert error.layer_type == "dense"
    assert error.input_shape == (3, 3, 2)


@pytest.mark.parametrize("input_shape", [(28, 28), (28, 28, 0), (28.0, 28, 1), "28x28", None])
def test_invalid_input_shape_rejected(input_shape):
    with pytest.raises(ValueError, match="input_shape"):
        Network(preset_layers("tiny", 10), input_shape=input_shape)


def test_forward_checks_x_shape_and_keeps_x():
    net = small_net(dtype=np.float32)
    X = np.random.default_rng(0).standard_normal((2, 7, 8, 2))
    X_copy = X.copy()

    Z = net.forward(X)

    assert Z.shape == (3, 2)
    assert Z.dtype == np.float32
    assert np.array_equal(X, X_copy)
    with pytest.raises(ValueError, match=r"X must have shape \(m, 7, 8, 2\)"):
        net.forward(np.zeros((2, 8, 7, 2)))


def test_same_seed_gives_same_weights():
    first, second, other = small_net(seed=3), small_net(seed=3), small_net(seed=4)

    for key, value in first.parameters().items():
        assert np.array_equal(value, second.parameters()[key])
    assert not np.array_equal(first.parameters()["0.W"], other.parameters()["0.W"])


def test_predict_proba_is_softmax_of_logits():
    net = small_net()
    X = np.random.default_rng(2).standard_normal((4, 7, 8, 2))

    probs = net.predict_proba(X)

    assert probs.shape == (3, 4)
    np.testing.assert_allclose(probs, softmax(net.forward(X)))
    np.testing.assert_allclose(probs.sum(axis=0), 1.0)
    assert np.array_equal(net.predict(X), np.argmax(probs, axis=0))


def test_trace_entries_have_contract_keys():
    net = small_net()
    X = np.random.default_rng(3).standard_normal((2, 7, 8, 2))

    Z, trace = net.forward(X, trace=True)

    assert [entry["index"] for entry in trace] == list(range(len(ALL_TYPES_SPEC)))
    extra = {
        "conv": {"padded_input", "weights", "bias", "f", "stride", "pad"},
        "maxpool": {"f", "stride", "mode", "pool_mask"},
        "avgpool": {"f", "stride", "mode"},
    }
    for entry, layer in zip(trace, net.layers, strict=True):
        base = {"index", "name", "type", "output_shape", "output"}
        assert set(entry) == base | extra.get(layer.type, set())
        assert entry["name"] == layer.name
        assert entry["output_shape"] == layer.output_shape
        per_example = (
            entry["output"].shape[1:] if entry["output"].ndim == 4 else (entry["output"].shape[0],)
        )
        assert per_example == layer.output_shape
    assert np.array_equal(trace[-2]["output"], Z)
    np.testing.assert_allclose(trace[-1]["output"], softmax(Z))
    assert trace[2]["mode"] == "max"
    assert trace[5]["mode"] == "average"


def test_trace_conv_cell_is_window_sum():
    net = small_net()
    X = np.random.default_rng(4).standard_normal((2, 7, 8, 2))

    _, trace = net.forward(X, trace=True)

    for entry in (trace[0], trace[3]):
        A_pad, W, b = entry["padded_input"], entry["weights"], entry["bias"]
        f, stride, Z = entry["f"], entry["stride"], entry["output"]
        for i, h, w, c in [(0, 0, 0, 0), (1, 1, 2, 2), (0, Z.shape[1] - 1, Z.shape[2] - 1, 1)]:
            window = A_pad[i, h * stride : h * stride + f, w * stride : w * stride + f, :]
            expected = np.sum(window * W[:, :, :, c]) + b[0, 0, 0, c]
            assert Z[i, h, w, c] == pytest.approx(expected, rel=1e-12)


def test_trace_conv_padded_input_has_zero_border():
    net = small_net()
    X = np.random.default_rng(5).standard_normal((1, 7, 8, 2))

    _, trace = net.forward(X, trace=True)

    A_pad = trace[0]["padded_input"]
    assert A_pad.shape == (1, 9, 10, 2)
    assert np.array_equal(A_pad[:, 1:-1, 1:-1, :], X)
    assert not A_pad[:, 0].any()
    assert not A_pad[:, -1].any()
    assert not A_pad[:, :, 0].any()
    assert not A_pad[:, :, -1].any()


def test_trace_pool_mask_marks_window_maximum():
    net = small_net()
    X = np.random.default_rng(6).standard_normal((2, 7, 8, 2))

    _, trace = net.forward(X, trace=True)

    entry = trace[2]
    A_prev, A, mask = trace[1]["output"], entry["output"], entry["pool_mask"]
    f, stride = entry["f"], entry["stride"]
    assert mask.shape == A_prev.shape
    assert set(np.unique(mask)) <= {0, 1}
    for i in range(A.shape[0]):
        for h in range(A.shape[1]):
            for w in range(A.shape[2]):
                for c in range(A.shape[3]):
                    rows = slice(h * stride, h * stride + f)
                    cols = slice(w * stride, w * stride + f)
                    window, marks = A_prev[i, rows, cols, c], mask[i, rows, cols, c]
                    assert window[marks == 1].max() == A[i, h, w, c]


def test_trace_pool_mask_picks_first_tied_maximum():
    spec = [{"type": "maxpool", "f": 2}, {"type": "flatten"}, {"type": "dense", "units": 2}]
    net = Network([*spec, {"type": "softmax"}], input_shape=(2, 4, 1))
    X = np.zeros((1, 2, 4, 1), np.float32)
    X[0, 1, 3, 0] = 5.0  # the right window has one maximum, the left one four tied zeros

    _, trace = net.forward(X, trace=True)

    assert trace[0]["pool_mask"][0, :, :, 0].tolist() == [[1, 0, 0, 0], [0, 0, 0, 1]]


def test_trace_copies_weights():
    net = small_net()
    X = np.zeros((1, 7, 8, 2))

    _, trace = net.forward(X, trace=True)
    net.parameters()["0.W"][...] = 0.0

    assert trace[0]["weights"].any()


def test_load_parameters_checks_keys_and_shapes():
    net = small_net()
    values = {key: np.zeros_like(value) for key, value in net.parameters().items()}

    net.load_parameters(values)
    assert not any(value.any() for value in net.parameters().values())

    values["0.W"] = np.zeros((1, 1))
    with pytest.raises(ValueError, match=r"'0.W' must have shape \(3, 3, 2, 3\)"):
        net.load_parameters(values)
    with pytest.raises(ValueError, match=r"missing \['9.b'\]"):
        net.load_parameters({k: v for k, v in net.parameters().items() if k != "9.b"})


def test_backward_before_forward_raises():
    net = small_net()

    with pytest.raises(RuntimeError, match="backward\\(\\) called before forward\\(\\)"):
        net.backward(np.zeros((3, 1)))


def test_summary_rows():
    net = small_net()

    rows = net.summary()

    assert [row["name"] for row in rows] == [layer["name"] for layer in net.spec]
    assert sum(row["n_params"] for row in rows) == net.n_params
    json.dumps(rows)


def test_parameter_shapes_match_built_network():
    net = small_net()

    expected = {key: value.shape for key, value in net.parameters().items()}

    assert parameter_shapes(ALL_TYPES_SPEC, (7, 8, 2)) == expected


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_defaults_are_train_arguments(name):
    defaults = PRESETS[name].training_defaults()

    assert set(defaults) <= set(inspect.signature(train).parameters)
    assert PRESETS[name].to_dict()["name"] == name
    json.dumps(PRESETS[name].to_dict())


@pytest.mark.parametrize(("init", "low", "high"), [("he", 0.2, 5.0), ("seed", 0.0, 1e-6)])
def test_deep_relu_output_scale(init, low, high):
    # Regression: randn * 0.01 shrinks the signal by about 0.1 per ReLU layer of 256 inputs,
    # so a deep network's logits vanish and training stalls. He initialization keeps the scale.
    layers = [{"type": "flatten"}]
    layers += [{"type": "dense", "units": 256}, {"type": "relu"}] * 8
    layers += [{"type": "dense", "units": 10}, {"type": "softmax"}]
    network = Network(layers, (8, 8, 4), init=init, seed=0)
    X = np.random.default_rng(1).standard_normal((64, 8, 8, 4)).astype(np.float32)

    Z = network.forward(X)

    assert low <= Z.std() / X.std() <= high
