"""Inspect: every tensor equals the engine's, and conv and pool arithmetic hold cell by cell."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.services.inference import InferenceService
from app.services.models import ModelStore
from app.services.tensors import decode_tensor
from cnn_core.datasets import decode_image, preprocess
from cnn_core.network import Network
from cnn_core.serialization import Model
from tests.api.conftest import encode_png

# Two convs with stride and padding, one overlapping max-pool and one average pool, so the
# cell checks cover more than the unit-stride case.
INSPECT_SPEC = [
    {"type": "conv", "filters": 3, "f": 3, "stride": 1, "pad": 1},
    {"type": "relu"},
    {"type": "maxpool", "f": 3, "stride": 2},
    {"type": "conv", "filters": 5, "f": 2, "stride": 2, "pad": 2, "name": "wide"},
    {"type": "sigmoid"},
    {"type": "avgpool", "f": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 4},
    {"type": "softmax"},
]
CLASSES = ["a", "b", "c", "d"]


@pytest.fixture
def inspect_model(api_settings: Settings, client: TestClient) -> tuple[str, Model]:
    network = Network(INSPECT_SPEC, input_shape=(20, 18, 3), seed=3)
    model = Model(network, CLASSES, {"mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3]})
    model_id = ModelStore(api_settings).add(model, name="inspect", dataset="none")
    return model_id, model


@pytest.fixture
def picture() -> bytes:
    rng = np.random.default_rng(7)
    return encode_png(rng.integers(0, 256, size=(25, 23, 3), dtype=np.uint8))


def inspect(client: TestClient, model_id: str, data: bytes, params=None) -> dict:
    response = client.post(
        f"/api/models/{model_id}/inspect", params=params, files={"file": ("x.png", data)}
    )
    assert response.status_code == 200, response.text
    return response.json()


def first_example(array: np.ndarray) -> np.ndarray:
    return array[0] if array.ndim == 4 else array[:, 0]


def test_tensors_equal_engine(client: TestClient, inspect_model, picture: bytes) -> None:
    model_id, model = inspect_model
    X = preprocess(decode_image(picture), model.network.input_shape, model.normalization)
    _, trace = model.network.forward(X, trace=True)

    body = inspect(client, model_id, picture)

    assert body["model_id"] == model_id
    np.testing.assert_array_equal(decode_tensor(body["input"]), X[0])
    assert [layer["name"] for layer in body["layers"]] == [entry["name"] for entry in trace]
    for layer, entry in zip(body["layers"], trace, strict=True):
        assert layer["index"] == entry["index"]
        assert layer["type"] == entry["type"]
        assert layer["output_shape"] == list(entry["output_shape"])
        output = decode_tensor(layer["output"])
        assert output.shape == tuple(entry["output_shape"])
        np.testing.assert_array_equal(output, first_example(entry["output"]))
        for key in ("padded_input", "pool_mask"):
            if key in entry:
                np.testing.assert_array_equal(
                    decode_tensor(layer[key]), first_example(entry[key]).astype(np.float32)
                )
        for key in ("weights", "bias"):
            if key in entry:
                np.testing.assert_array_equal(decode_tensor(layer[key]), entry[key])
        for key in ("f", "stride", "pad", "mode"):
            assert layer.get(key) == entry.get(key), (entry["name"], key)


def test_conv_cell_is_window_sum(client: TestClient, inspect_model, picture: bytes) -> None:
    model_id, _ = inspect_model
    body = inspect(client, model_id, picture)
    convs = [layer for layer in body["layers"] if layer["type"] == "conv"]
    assert len(convs) == 2

    for layer in convs:
        A_pad = decode_tensor(layer["padded_input"])
        W = decode_tensor(layer["weights"])
        b = decode_tensor(layer["bias"])
        Z = decode_tensor(layer["output"])
        f, stride, pad = layer["f"], layer["stride"], layer["pad"]
        n_H, n_W, n_C = Z.shape

        assert W.shape[:2] == (f, f)
        assert b.shape == (1, 1, 1, n_C)
        assert n_H == (A_pad.shape[0] - f) // stride + 1
        assert n_W == (A_pad.shape[1] - f) // stride + 1
        # The padding ring is zero.
        assert np.all(A_pad[:pad] == 0)
        assert np.all(A_pad[-pad:] == 0)
        assert np.all(A_pad[:, :pad] == 0)
        assert np.all(A_pad[:, -pad:] == 0)
        for h in range(n_H):
            for w in range(n_W):
                window = A_pad[h * stride : h * stride + f, w * stride : w * stride + f, :]
                for c in range(n_C):
                    expected = np.sum(window.astype(np.float64) * W[:, :, :, c]) + b[0, 0, 0, c]
                    assert Z[h, w, c] == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_conv_padded_input_is_previous_output(
    client: TestClient, inspect_model, picture: bytes
) -> None:
    model_id, _ = inspect_model
    body = inspect(client, model_id, picture)
    layers = body["layers"]

    previous = [decode_tensor(body["input"])] + [decode_tensor(layer["output"]) for layer in layers]
    for index, layer in enumerate(layers):
        if layer["type"] != "conv":
            continue
        pad = layer["pad"]
        A_pad = decode_tensor(layer["padded_input"])
        np.testing.assert_array_equal(A_pad[pad:-pad, pad:-pad], previous[index])


def test_pool_mask_marks_maximum(client: TestClient, inspect_model, picture: bytes) -> None:
    model_id, _ = inspect_model
    body = inspect(client, model_id, picture)
    layers = body["layers"]
    index = next(i for i, layer in enumerate(layers) if layer["type"] == "maxpool")
    pool = layers[index]
    A_prev = decode_tensor(layers[index - 1]["output"])
    mask = decode_tensor(pool["pool_mask"])
    A = decode_tensor(pool["output"])
    f, stride = pool["f"], pool["stride"]

    assert pool["mode"] == "max"
    assert mask.shape == A_prev.shape
    assert set(np.unique(mask)) <= {0.0, 1.0}
    winners = np.zeros_like(mask)
    for h in range(A.shape[0]):
        for w in range(A.shape[1]):
            rows = slice(h * stride, h * stride + f)
            cols = slice(w * stride, w * stride + f)
            for c in range(A.shape[2]):
                window = A_prev[rows, cols, c]
                assert A[h, w, c] == window.max()
                # The first maximum in row-major order wins the window.
                r, q = np.unravel_index(np.argmax(window), window.shape)
                assert mask[h * stride + r, w * stride + q, c] == 1.0
                winners[h * stride + r, w * stride + q, c] = 1.0
    np.testing.assert_array_equal(mask, winners)


def test_avgpool_cell_is_mean(client: TestClient, inspect_model, picture: bytes) -> None:
    model_id, _ = inspect_model
    body = inspect(client, model_id, picture)
    layers = body["layers"]
    index = next(i for i, layer in enumerate(layers) if layer["type"] == "avgpool")
    pool = layers[index]
    A_prev = decode_tensor(layers[index - 1]["output"])
    A = decode_tensor(pool["output"])
    f, stride = pool["f"], pool["stride"]

    assert "pool_mask" not in pool
    for h in range(A.shape[0]):
        for w in range(A.shape[1]):
            window = A_prev[h * stride : h * stride + f, w * stride : w * stride + f]
            np.testing.assert_allclose(A[h, w], window.mean(axis=(0, 1)), rtol=1e-5, atol=1e-6)


def test_softmax_output_is_predictions(client: TestClient, inspect_model, picture: bytes) -> None:
    model_id, _ = inspect_model
    body = inspect(client, model_id, picture)

    probabilities = decode_tensor(body["layers"][-1]["output"])
    assert probabilities.shape == (len(CLASSES),)
    for prediction in body["predictions"]:
        assert prediction["probability"] == pytest.approx(
            float(probabilities[prediction["class_index"]]), rel=1e-6
        )
    ranked = [p["probability"] for p in body["predictions"]]
    assert ranked == sorted(ranked, reverse=True)


def test_flatten_is_c_order(client: TestClient, inspect_model, picture: bytes) -> None:
    model_id, _ = inspect_model
    body = inspect(client, model_id, picture)
    layers = body["layers"]
    index = next(i for i, layer in enumerate(layers) if layer["type"] == "flatten")

    np.testing.assert_array_equal(
        decode_tensor(layers[index]["output"]), decode_tensor(layers[index - 1]["output"]).ravel()
    )


@pytest.mark.parametrize("query, expected", [
    ({"layers": "conv1"}, ["conv1"]),
    ({"layers": "0,wide"}, ["conv1", "wide"]),
    ({"layers": ["2", "softmax1"]}, ["maxpool1", "softmax1"]),
    ({"layers": " 8 , 3 "}, ["wide", "softmax1"]),
])  # fmt: skip
def test_layers_query_selects(
    client: TestClient, inspect_model, picture: bytes, query, expected
) -> None:
    model_id, _ = inspect_model

    body = inspect(client, model_id, picture, params=query)

    assert [layer["name"] for layer in body["layers"]] == expected
    assert len(body["predictions"]) == len(CLASSES)


@pytest.mark.parametrize("value", ["conv9", "9", "-1", "conv1,nope"])
def test_layers_query_unknown_422(
    client: TestClient, inspect_model, picture: bytes, value: str
) -> None:
    model_id, _ = inspect_model

    response = client.post(
        f"/api/models/{model_id}/inspect",
        params={"layers": value},
        files={"file": ("x.png", picture)},
    )

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith("layers: unknown layer")
    assert "0=conv1" in detail


def test_non_conv_layers_omit_conv_keys(client: TestClient, inspect_model, picture: bytes) -> None:
    model_id, _ = inspect_model
    body = inspect(client, model_id, picture)

    relu = next(layer for layer in body["layers"] if layer["type"] == "relu")
    assert set(relu) == {"index", "name", "type", "output_shape", "output"}
    for layer in body["layers"]:
        assert layer["output"]["dtype"] == "float32"


def test_concurrent_inspect_isolated(api_settings: Settings, inspect_model) -> None:
    """Requests sharing one network in several threads each get their own image's numbers."""
    model_id, model = inspect_model
    service = InferenceService(ModelStore(api_settings), api_settings)
    rng = np.random.default_rng(11)
    uploads = [encode_png(rng.integers(0, 256, (20, 18, 3), dtype=np.uint8)) for _ in range(8)]
    expected = [service.inspect_sync(model_id, data) for data in uploads]

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            for _ in range(5):
                results = list(pool.map(lambda data: service.inspect_sync(model_id, data), uploads))
                assert results == expected
    finally:
        service.close()
