"""Tests of model files: round trip, atomic writes and damaged files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from cnn_core import serialization
from cnn_core.network import Network
from cnn_core.serialization import (
    Model,
    ModelFileError,
    load_model,
    load_shipped_model,
    save_model,
)

SPEC = [
    {"type": "conv", "filters": 3, "f": 3, "pad": 1},
    {"type": "relu"},
    {"type": "maxpool", "f": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 3},
    {"type": "softmax"},
]
CLASSES = ["cat", "dog", "bird"]


def make_model(seed: int = 0) -> Model:
    network = Network(SPEC, input_shape=(6, 5, 2), seed=seed)
    return Model(
        network,
        CLASSES,
        normalization={"mean": [0.5, 0.25], "std": [0.2, 0.1]},
        metadata={"seed": seed, "accuracy": 0.5, "command": "train --preset tiny"},
    )


def test_round_trip_gives_identical_outputs(tmp_path):
    model = make_model()
    X = np.random.default_rng(0).standard_normal((4, 6, 5, 2)).astype(np.float32)

    path = save_model(tmp_path / "model.npz", model)
    loaded = load_model(path)

    assert np.array_equal(loaded.network.forward(X), model.network.forward(X))
    assert loaded.network.spec == model.network.spec
    assert loaded.network.input_shape == (6, 5, 2)
    assert loaded.network.dtype == np.float32
    assert loaded.classes == CLASSES
    assert loaded.normalization == model.normalization
    assert loaded.metadata == model.metadata
    for key, value in model.network.parameters().items():
        assert np.array_equal(loaded.network.parameters()[key], value)


def test_file_loads_without_pickle(tmp_path):
    path = save_model(tmp_path / "model.npz", make_model())

    with np.load(path, allow_pickle=False) as archive:
        kinds = {key: archive[key].dtype.kind for key in archive.files}
        spec = json.loads(str(archive["spec"]))

    assert "O" not in kinds.values()
    assert kinds["spec"] == "U"
    assert kinds["param.0.W"] == "f"
    assert spec[0]["name"] == "conv1"


def test_save_replaces_existing_file(tmp_path):
    path = tmp_path / "model.npz"
    save_model(path, make_model(seed=0))

    save_model(path, make_model(seed=1))

    assert load_model(path).metadata["seed"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_failed_save_leaves_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    save_model(path, make_model(seed=0))
    original = path.read_bytes()

    def failing_savez(file, **arrays):
        file.write(b"PK\x03\x04 partial")
        raise OSError("disk full")

    monkeypatch.setattr(serialization.np, "savez", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        save_model(path, make_model(seed=1))
    with pytest.raises(OSError, match="disk full"):
        save_model(tmp_path / "new.npz", make_model(seed=1))

    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_missing_file_error_names_path(tmp_path):
    path = tmp_path / "absent.npz"

    with pytest.raises(ModelFileError, match=f"model file {path} not found"):
        load_model(path)


def test_truncated_file_error_names_path(tmp_path):
    path = save_model(tmp_path / "model.npz", make_model())
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    with pytest.raises(ModelFileError, match=f"model file {path}"):
        load_model(path)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"not a zip file at all", "damaged, truncated or not a model .npz"),
        (b"", "damaged, truncated or not a model .npz"),
    ],
)
def test_non_npz_file_rejected(tmp_path, content, match):
    path = tmp_path / "model.npz"
    path.write_bytes(content)

    with pytest.raises(ModelFileError, match=match):
        load_model(path)


def test_png_file_rejected(tmp_path):
    path = tmp_path / "sample.png"
    Image.new("L", (28, 28)).save(path)

    with pytest.raises(ModelFileError) as caught:
        load_model(path)

    message = str(caught.value)
    assert message.startswith(f"model file {path} is not a CNN Playground model (.npz) file")
    assert "allow_pickle" not in message


def test_pickled_npy_advice_dropped(tmp_path):
    path = tmp_path / "objects.npz"
    with path.open("wb") as file:
        np.save(file, np.array([{"a": 1}], dtype=object), allow_pickle=True)

    with pytest.raises(ModelFileError, match="pickled Python objects") as caught:
        load_model(path)

    assert "allow_pickle" not in str(caught.value)


def test_npy_file_rejected(tmp_path):
    path = tmp_path / "model.npz"
    with path.open("wb") as file:
        np.save(file, np.zeros(3))

    with pytest.raises(ModelFileError, match="is a single .npy array, not a model .npz"):
        load_model(path)


def test_npz_of_other_kind_rejected(tmp_path):
    path = tmp_path / "weights.npz"
    np.savez(path, W=np.zeros(3))

    with pytest.raises(ModelFileError, match="has no 'format' entry"):
        load_model(path)


def test_pickled_entry_rejected(tmp_path):
    path = save_model(tmp_path / "model.npz", make_model())
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["metadata"] = np.array([{"a": 1}], dtype=object)
    np.savez(path, **arrays)

    with pytest.raises(ModelFileError, match=f"model file {path}"):
        load_model(path)


def test_weights_not_matching_spec_rejected(tmp_path):
    path = save_model(tmp_path / "model.npz", make_model())
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["param.4.W"] = np.zeros((3, 5), np.float32)
    np.savez(path, **arrays)

    with pytest.raises(
        ModelFileError, match=r"weights do not match its spec: expected .*'4.W': \(3, 18\)"
    ):
        load_model(path)


def test_newer_format_version_rejected(tmp_path):
    path = save_model(tmp_path / "model.npz", make_model())
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["format"] = np.array(json.dumps({"name": "cnn-playground-model", "version": 2}))
    np.savez(path, **arrays)

    with pytest.raises(ModelFileError, match="format version 2"):
        load_model(path)


@pytest.mark.parametrize(
    ("classes", "normalization", "error", "match"),
    [
        (["a", "b"], None, ValueError, "classes has 2 names but the network has 3 outputs"),
        ("abc", None, TypeError, "classes must be a list of strings"),
        (CLASSES, {"mean": [0.5]}, ValueError, "keys 'mean' and 'std'"),
        (CLASSES, {"mean": [0.5, 0.5, 0.5], "std": [1]}, ValueError, "1 or 2 finite numbers"),
        (CLASSES, {"mean": [0.5], "std": [0.0]}, ValueError, "std'\\] must be positive"),
    ],
)
def test_model_checks_its_fields(classes, normalization, error, match):
    network = Network(SPEC, input_shape=(6, 5, 2))

    with pytest.raises(error, match=match):
        Model(network, classes, normalization=normalization)


def test_metadata_must_be_json(tmp_path):
    model = make_model()
    model.metadata["accuracy"] = float("nan")

    with pytest.raises(ValueError, match="metadata must be JSON-serializable"):
        save_model(tmp_path / "model.npz", model)
    assert list(tmp_path.iterdir()) == []


def test_shipped_model_loads_from_pretrained_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(serialization, "PRETRAINED_DIR", tmp_path)
    save_model(tmp_path / "default.npz", make_model(seed=7))

    assert load_shipped_model().metadata["seed"] == 7


def test_missing_shipped_model_error(tmp_path, monkeypatch):
    monkeypatch.setattr(serialization, "PRETRAINED_DIR", tmp_path)
    save_model(tmp_path / "other.npz", make_model())

    with pytest.raises(
        ModelFileError, match="shipped model 'default' not found .* available: other"
    ):
        load_shipped_model("default")


@pytest.mark.parametrize("name", ["../default", "", "a/b", ".hidden", None])
def test_shipped_model_name_checked(name):
    with pytest.raises(ValueError, match="shipped model name must contain only"):
        load_shipped_model(name)
