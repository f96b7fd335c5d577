"""``predict`` and ``inspect`` on PNG files of real test images."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from cnn_core.datasets import decode_image, preprocess
from cnn_core.serialization import load_model, save_model

from .conftest import probabilities_in_process, run_cli, run_json


def test_predict_top_k_text(untrained_model, test_images):
    paths = [str(path) for path, _ in test_images]
    result = run_cli("predict", str(untrained_model), *paths, "--top", "2")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3 * len(paths)
    assert lines[0] == paths[0]
    assert lines[1].startswith("  ")


def test_predict_json_sorted(untrained_model, test_images):
    path, _ = test_images[0]
    report = run_json("predict", str(untrained_model), str(path), "--top", "4", "--json")

    prediction = report["predictions"][0]
    top = [entry["probability"] for entry in prediction["top"]]
    assert len(top) == 4
    assert top == sorted(top, reverse=True)
    assert sum(prediction["probabilities"]) == pytest.approx(1.0, abs=1e-5)
    assert prediction["top"][0]["class_index"] == int(np.argmax(prediction["probabilities"]))


def test_predict_matches_engine(untrained_model, test_images):
    path, _ = test_images[1]
    report = run_json("predict", str(untrained_model), str(path), "--json")

    expected = probabilities_in_process(untrained_model, path)
    assert report["predictions"][0]["probabilities"] == [float(p) for p in expected]


def test_save_load_predict_identical(untrained_model, test_images, tmp_path):
    copy = save_model(tmp_path / "copy.npz", load_model(untrained_model))
    paths = [str(path) for path, _ in test_images]

    original = run_json("predict", str(untrained_model), *paths, "--json")
    reloaded = run_json("predict", str(copy), *paths, "--json")

    assert original["predictions"] == reloaded["predictions"]


@pytest.mark.slow
def test_predict_trained_model_right(trained_model, test_images):
    path, _ = trained_model
    report = run_json("predict", str(path), *(str(p) for p, _ in test_images), "--json")

    predicted = [entry["top"][0]["label"] for entry in report["predictions"]]
    expected = [label for _, label in test_images]
    assert sum(p == e for p, e in zip(predicted, expected, strict=True)) >= 2


def test_inspect_writes_every_layer(untrained_model, test_images, tmp_path):
    image_path, _ = test_images[0]
    out = tmp_path / "maps"
    result = run_cli("inspect", str(untrained_model), str(image_path), "--out", str(out))

    assert result.returncode == 0, result.stderr
    index = json.loads((out / "index.json").read_text())
    model = load_model(untrained_model)
    assert len(index["files"]) == len(model.network.spec) + 1
    assert index["files"][0]["name"] == "input"
    for entry, shape in zip(index["files"][1:], model.network.output_shapes, strict=True):
        assert tuple(entry["output_shape"]) == tuple(shape)
    for entry in index["files"]:
        with Image.open(out / entry["file"]) as png:
            assert png.format == "PNG"
            assert png.mode == "RGB"


def test_inspect_ranges_match_engine(untrained_model, test_images, tmp_path):
    image_path, _ = test_images[2]
    out = tmp_path / "maps"
    assert (
        run_cli("inspect", str(untrained_model), str(image_path), "--out", str(out)).returncode == 0
    )

    index = json.loads((out / "index.json").read_text())
    model = load_model(untrained_model)
    X = preprocess(decode_image(image_path.read_bytes()), model.input_shape, model.normalization)
    _, trace = model.network.forward(X, trace=True)
    conv = next(layer for layer in trace if layer["type"] == "conv")
    entry = next(item for item in index["files"] if item["name"] == conv["name"])

    np.testing.assert_allclose(entry["min"], conv["output"][0].min(axis=(0, 1)), rtol=1e-6)
    np.testing.assert_allclose(entry["max"], conv["output"][0].max(axis=(0, 1)), rtol=1e-6)
    assert index["prediction"]["class_index"] == int(np.argmax(trace[-1]["output"][:, 0]))


def test_inspect_grid_has_one_tile_per_channel(untrained_model, test_images, tmp_path):
    image_path, _ = test_images[0]
    out = tmp_path / "maps"
    assert (
        run_cli("inspect", str(untrained_model), str(image_path), "--out", str(out)).returncode == 0
    )

    index = json.loads((out / "index.json").read_text())
    entry = next(item for item in index["files"] if item["type"] == "conv")
    n_C = entry["output_shape"][2]
    assert len(entry["min"]) == n_C
    with Image.open(out / entry["file"]) as png:
        pixels = np.asarray(png)
    # Tiles are separated by rows and columns of the background colour; count the tile rows.
    background = pixels[0, 0]
    is_gap_row = (pixels == background).all(axis=(1, 2))
    tile_rows = np.count_nonzero(np.diff(is_gap_row.astype(int)) == -1)
    assert tile_rows == int(np.ceil(n_C / np.ceil(np.sqrt(n_C))))
