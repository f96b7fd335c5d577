"""The inspect body with raw base64 bytes equals the JSON encoder's output, byte for byte."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import numpy as np
import pytest

from app.core.config import Settings
from app.services.inference import InferenceService, to_json_bytes
from app.services.models import ModelStore
from app.services.tensors import (
    EncodedTensor,
    decode_tensor,
    encode_tensor,
    encode_tensor_bytes,
    json_bytes,
)
from cnn_core.network import Network
from cnn_core.presets import PRESETS, preset_layers
from cnn_core.serialization import Model
from tests.api.conftest import encode_png


def dumps(value: object) -> bytes:
    return json.dumps(value, allow_nan=False, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    "value",
    [
        {},
        [],
        (),
        {"a": [], "b": {}, "c": ()},
        [None, True, False, 0, -7, 2**70, 0.1, -2.5e-30, 1e300, -0.0],
        {'quote " backslash \\ tab \t': "newline \n, nul \x00, e acute \u00e9, snake \U0001f40d"},
        {"model_id": "abc", "predictions": [{"class_index": 3, "label": "T", "p": 0.5}]},
        [[1, [2, [3, {"deep": [4.25]}]]]],
        np.float32(0.1).item(),
        np.float64(1.5),
        "plain",
        12,
    ],
)
def test_json_bytes_matches_dumps(value: object) -> None:
    assert json_bytes(value) == dumps(value)


def test_json_bytes_writes_tensor_dict() -> None:
    array = np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 7
    payload = {"layers": [{"index": 0, "output": encode_tensor_bytes(array)}], "n": 1}
    expected = {"layers": [{"index": 0, "output": encode_tensor(array)}], "n": 1}

    assert json_bytes(payload) == dumps(expected)


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_json_bytes_rejects_non_finite(number: float) -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        json_bytes({"probability": [0.5, number]})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": np.int64(3)}, "int64 is not JSON serializable"),
        ({"a": {1, 2}}, "set is not JSON serializable"),
        ({1: "a"}, "keys must be str"),
    ],
)
def test_json_bytes_rejects_other_types(value: object, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        json_bytes(value)


@pytest.mark.parametrize(
    "array",
    [
        np.linspace(-3, 3, 30, dtype=np.float32).reshape(5, 6),
        np.linspace(-3, 3, 30).reshape(5, 6).T,  # float64, not C-contiguous
        np.arange(60, dtype=np.float32).reshape(3, 4, 5)[:, ::2, 1:],  # a strided view
        np.array([[0, 1], [1, 0]], dtype=np.uint8),
        np.zeros((0, 4), dtype=np.float32),
    ],
)
def test_tensor_bytes_round_trip(array: np.ndarray) -> None:
    tensor = encode_tensor_bytes(array)

    assert isinstance(tensor, EncodedTensor)
    assert tensor.shape == array.shape
    assert tensor.to_dict() == encode_tensor(array)
    np.testing.assert_array_equal(decode_tensor(tensor.to_dict()), array.astype(np.float32))


def test_tensor_bytes_leave_input_unchanged() -> None:
    array = np.linspace(0, 1, 12).reshape(3, 4)
    before = array.copy()

    encode_tensor_bytes(array)

    np.testing.assert_array_equal(array, before)


@pytest.fixture(scope="module")
def preset_models(tmp_path_factory) -> Iterator[tuple[InferenceService, dict[str, str]]]:
    # The seed preset's dense layer has 22 million weights, so the models are stored once.
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"))
    store = ModelStore(settings)
    model_ids = {}
    for preset in ("tiny", "seed"):
        network = Network(preset_layers(preset, 3), input_shape=PRESETS[preset].input_shape)
        model = Model(network, ["x", "y", "z"], {"mean": [0.4], "std": [0.3]})
        model_ids[preset] = store.add(model, name=preset, dataset="none")
    service = InferenceService(store, settings)
    yield service, model_ids
    service.close()


@pytest.mark.parametrize("preset", ["tiny", "seed"])
@pytest.mark.parametrize("layers", [None, ["conv1,maxpool1"], ["0", "relu2", "dense2"]])
def test_inspect_body_equals_encoder(preset_models, preset: str, layers) -> None:
    service, model_ids = preset_models
    rng = np.random.default_rng(5)
    picture = encode_png(rng.integers(0, 256, size=(30, 26, 3), dtype=np.uint8))

    body = service.inspect_body(model_ids[preset], picture, layers)

    assert body == to_json_bytes(service.inspect_sync(model_ids[preset], picture, layers))
