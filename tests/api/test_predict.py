"""Predict over HTTP: accuracy equal to the engine's, every Pillow mode, EXIF and animations."""

from __future__ import annotations

import io
import json

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from cnn_core.datasets import decode_image, preprocess, to_model_input
from cnn_core.serialization import Model, load_shipped_model
from cnn_core.training import evaluate
from tests.api.conftest import LiveServer, encode_png

# Test images classified over HTTP; the first ones of the Fashion-MNIST test split.
N_ACCURACY_IMAGES = 200


def reject_constant(name: str) -> float:
    raise AssertionError(f"JSON holds {name}")


def strict_json(response) -> dict:
    """Parse a response body, failing on NaN and infinity literals."""
    return json.loads(response.text, parse_constant=reject_constant)


def predict(client, model_id: str, data: bytes, filename: str = "image.png") -> dict:
    response = client.post(
        f"/api/models/{model_id}/predict", files={"file": (filename, data, "image/png")}
    )
    assert response.status_code == 200, response.text
    return strict_json(response)


def engine_probabilities(model: Model, data: bytes) -> np.ndarray:
    """Probabilities ``(n_classes,)`` the engine computes for the same uploaded bytes."""
    X = preprocess(decode_image(data), model.network.input_shape, model.normalization)
    return model.network.predict_proba(X)[:, 0]


def test_predict_every_class_sorted(
    client: TestClient, model_id: str, small_model: Model, fashion_mnist_test
) -> None:
    images, _ = fashion_mnist_test
    data = encode_png(images[0])

    body = predict(client, model_id, data)

    assert body["model_id"] == model_id
    predictions = body["predictions"]
    assert sorted(p["class_index"] for p in predictions) == list(range(10))
    probabilities = [p["probability"] for p in predictions]
    assert probabilities == sorted(probabilities, reverse=True)
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
    for prediction in predictions:
        assert prediction["label"] == small_model.classes[prediction["class_index"]]
    expected = engine_probabilities(small_model, data)
    for prediction in predictions:
        assert prediction["probability"] == pytest.approx(
            float(expected[prediction["class_index"]]), rel=1e-6, abs=1e-7
        )


def test_accuracy_matches_engine_live(
    live_server: LiveServer, small_model: Model, accuracy_model_id: str | None, fashion_mnist_test
) -> None:
    images, labels = fashion_mnist_test
    images, labels = images[:N_ACCURACY_IMAGES], labels[:N_ACCURACY_IMAGES]
    if accuracy_model_id is None:
        model_id, model = live_server.model_id, small_model
    else:
        model_id, model = accuracy_model_id, load_shipped_model()

    with httpx.Client(base_url=live_server.base_url, timeout=30.0) as http:
        predicted = []
        for image in images:
            body = predict(http, model_id, encode_png(image))
            predicted.append(body["predictions"][0]["class_index"])

    http_accuracy = float(np.mean(np.asarray(predicted) == labels))
    engine = evaluate(model.network, to_model_input(images, model.normalization), labels)
    engine_predicted = np.argmax(
        model.network.forward(to_model_input(images, model.normalization)), axis=0
    )
    model.network.clear_cache()
    assert http_accuracy == engine.accuracy
    np.testing.assert_array_equal(predicted, engine_predicted)
    assert http_accuracy > 0.5


def _save(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def _mode_uploads(picture: np.ndarray) -> dict[str, bytes]:
    """One upload per Pillow mode, each made from the uint8 picture ``(28, 28)``."""
    gray = Image.fromarray(picture)
    rgb = Image.merge("RGB", (gray, gray.transpose(Image.Transpose.FLIP_LEFT_RIGHT), gray))
    alpha = Image.fromarray(np.where(picture > 64, 255, 128).astype(np.uint8))
    la = gray.copy()
    la.putalpha(alpha)
    rgba = rgb.copy()
    rgba.putalpha(alpha)
    palette = rgb.quantize(colors=16)
    sixteen = Image.fromarray(picture.astype(np.uint16) * 257)
    int32 = Image.fromarray(picture.astype(np.int32) * 100)
    floats = Image.fromarray(picture.astype(np.float32) / 255.0)
    return {
        "1": _save(gray.convert("1"), "PNG"),
        "L": _save(gray, "PNG"),
        "LA": _save(la, "PNG"),
        "P+transparency": _save(palette, "PNG", transparency=0),
        "RGB": _save(rgb, "PNG"),
        "RGBA": _save(rgba, "PNG"),
        "CMYK": _save(rgb.convert("CMYK"), "JPEG", quality=95),
        "CMYK-tiff": _save(rgb.convert("CMYK"), "TIFF"),
        "I;16": _save(sixteen, "PNG"),
        "I": _save(int32, "TIFF"),
        "F": _save(floats, "TIFF"),
        "RGB-jpeg": _save(rgb, "JPEG", quality=90),
        "RGB-bmp": _save(rgb, "BMP"),
        "RGB-webp": _save(rgb, "WEBP", lossless=True),
        "RGB-gif": _save(rgb.convert("P"), "GIF"),
    }


@pytest.mark.parametrize("mode", list(_mode_uploads(np.zeros((28, 28), np.uint8))))
def test_every_pillow_mode(
    client: TestClient, model_id: str, small_model: Model, fashion_mnist_test, mode: str
) -> None:
    images, _ = fashion_mnist_test
    data = _mode_uploads(images[1, :, :, 0])[mode]

    body = predict(client, model_id, data)

    expected = engine_probabilities(small_model, data)
    got = np.zeros(10)
    for prediction in body["predictions"]:
        got[prediction["class_index"]] = prediction["probability"]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert got.sum() == pytest.approx(1.0, abs=1e-5)


def test_exif_orientation_applied(client: TestClient, model_id: str, fashion_mnist_test) -> None:
    images, _ = fashion_mnist_test
    upright = Image.fromarray(images[2, :, :, 0])
    # Orientation 6 means "rotate 90 degrees clockwise to display", so the stored pixels are
    # the upright picture turned 90 degrees counter-clockwise.
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6

    tagged = predict(client, model_id, _save(stored, "PNG", exif=exif.tobytes()))
    reference = predict(client, model_id, _save(upright, "PNG"))
    untagged = predict(client, model_id, _save(stored, "PNG"))

    assert tagged == reference
    assert untagged != reference


def test_animation_first_frame(client: TestClient, model_id: str, fashion_mnist_test) -> None:
    images, _ = fashion_mnist_test
    frames = [Image.fromarray(images[i, :, :, 0]).convert("P") for i in (3, 4, 5)]
    animated = _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    first = _save(frames[0], "GIF")

    assert predict(client, model_id, animated) == predict(client, model_id, first)


def test_filename_and_type_ignored(client: TestClient, model_id: str, fashion_mnist_test) -> None:
    images, _ = fashion_mnist_test
    data = encode_png(images[6])

    response = client.post(
        f"/api/models/{model_id}/predict",
        files={"file": ("notes.txt", data, "text/plain")},
    )

    assert response.status_code == 200
    assert strict_json(response) == predict(client, model_id, data)
