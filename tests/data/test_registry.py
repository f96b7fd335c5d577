"""Dataset names, folders from arguments and variables, list_datasets and the seeded split."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cnn_core.datasets import (
    FASHION_MNIST_CLASSES,
    DatasetError,
    list_datasets,
    load_dataset,
    train_validation_split,
)

from .conftest import FASHION_MNIST_DIR, png_bytes, write_idx_dataset

FASHION_ENV = "CNN_PLAYGROUND_FASHION_MNIST_DIR"


def _by_name(entries):
    return {entry["name"]: entry for entry in entries}


def test_list_datasets_default(monkeypatch):
    monkeypatch.delenv(FASHION_ENV, raising=False)
    monkeypatch.delenv("CNN_PLAYGROUND_MNIST_DIR", raising=False)

    entries = _by_name(list_datasets())

    fashion = entries["fashion-mnist"]
    assert fashion["available"] is True
    assert fashion["path"] == str(FASHION_MNIST_DIR)
    assert fashion["input_shape"] == [28, 28, 1]
    assert fashion["classes"] == list(FASHION_MNIST_CLASSES)
    assert fashion["train_size"] == 60000
    assert fashion["test_size"] == 10000
    assert fashion["hint"] is None
    assert entries["mnist"]["available"] is False
    assert "CNN_PLAYGROUND_MNIST_DIR" in entries["mnist"]["hint"]
    assert set(entries) == {"fashion-mnist", "mnist", "cifar10"}


def test_missing_fashion_mnist(tmp_path, monkeypatch):
    monkeypatch.setenv(FASHION_ENV, str(tmp_path / "nowhere"))

    with pytest.raises(DatasetError) as caught:
        load_dataset("fashion-mnist")

    message = str(caught.value)
    assert str(tmp_path / "nowhere") in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert FASHION_ENV in message
    entry = _by_name(list_datasets())["fashion-mnist"]
    assert entry["available"] is False
    assert "apt-get install dataset-fashion-mnist" in entry["hint"]
    assert entry["train_size"] is None


def test_fashion_missing_split(tmp_path):
    write_idx_dataset(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()

    with pytest.raises(DatasetError, match="test split of fashion-mnist was not found"):
        load_dataset("fashion-mnist", "test", directory=tmp_path)


def test_folder_from_env_and_argument(tmp_path, monkeypatch):
    from_env = write_idx_dataset(tmp_path / "env", n_train=3, seed=1)
    from_argument = write_idx_dataset(tmp_path / "arg", n_train=4, seed=2)
    monkeypatch.setenv(FASHION_ENV, str(tmp_path / "env"))

    assert len(load_dataset("fashion-mnist")) == 3
    np.testing.assert_array_equal(load_dataset("fashion-mnist").labels, from_env["train"][1])
    dataset = load_dataset("fashion-mnist", directory=tmp_path / "arg")
    np.testing.assert_array_equal(dataset.labels, from_argument["train"][1])
    assert dataset.path == str(tmp_path / "arg")


def test_damaged_dataset_listed_unavailable(tmp_path):
    write_idx_dataset(tmp_path)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"\x00\x01\x02\x03\x04\x05\x06\x07")

    entry = _by_name(list_datasets(directories={"fashion-mnist": tmp_path}))["fashion-mnist"]

    assert entry["available"] is False
    assert "bad magic number" in entry["hint"]


def test_list_folder_datasets(tmp_path):
    for name, value in (("a", 10), ("b", 90)):
        (tmp_path / "pets" / name).mkdir(parents=True)
        (tmp_path / "pets" / name / "1.png").write_bytes(png_bytes(Image.new("RGB", (5, 4), value)))
    (tmp_path / "broken").mkdir()

    entries = list_datasets([tmp_path / "pets", tmp_path / "broken"])

    assert entries[-2]["name"] == "pets"
    assert entries[-2]["available"] is True
    assert entries[-2]["input_shape"] == [4, 5, 3]
    assert entries[-2]["classes"] == ["a", "b"]
    assert entries[-2]["train_size"] == 2
    assert entries[-1]["available"] is False
    assert "no class folders" in entries[-1]["hint"]


def test_unknown_names():
    with pytest.raises(DatasetError, match="neither one of"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="split must be one of"):
        load_dataset("fashion-mnist", "validation")
    with pytest.raises(ValueError, match="unknown dataset names"):
        list_datasets(directories={"imagenet": "/tmp"})


# ---------------------------------------------------------------- train_validation_split


def _examples(counts):
    labels = np.repeat(np.arange(len(counts)), counts)
    # Each example's pixels contain its index, so the tests can tell where every example went.
    images = np.repeat(np.arange(labels.size), 4).reshape(labels.size, 2, 2, 1)
    return images, labels


def test_split_is_seeded():
    images, labels = _examples([30, 50, 20])

    first = train_validation_split(images, labels, validation_fraction=0.2, seed=7)
    second = train_validation_split(images, labels, validation_fraction=0.2, seed=7)
    other = train_validation_split(images, labels, validation_fraction=0.2, seed=8)

    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[3], other[3])


def test_split_is_stratified_and_complete():
    images, labels = _examples([30, 50, 20])

    X_train, y_train, X_val, y_val = train_validation_split(
        images, labels, validation_fraction=0.2, seed=0
    )

    assert np.bincount(y_val).tolist() == [6, 10, 4]
    assert np.bincount(y_train).tolist() == [24, 40, 16]
    # Every example lands in exactly one set, with its own label.
    ids = np.concatenate([X_train[:, 0, 0, 0], X_val[:, 0, 0, 0]])
    assert sorted(ids.tolist()) == list(range(100))
    np.testing.assert_array_equal(labels[X_val[:, 0, 0, 0]], y_val)


def test_split_zero_fraction():
    images, labels = _examples([3, 3])

    X_train, _, X_val, y_val = train_validation_split(images, labels, validation_fraction=0.0)

    assert X_train.shape == (6, 2, 2, 1)
    assert X_val.shape == (0, 2, 2, 1)
    assert y_val.shape == (0,)


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_split_bad_fraction(fraction):
    images, labels = _examples([3, 3])

    with pytest.raises(ValueError, match=r"validation_fraction must be in \[0, 1\)"):
        train_validation_split(images, labels, validation_fraction=fraction)


def test_split_shape_mismatch():
    images, labels = _examples([3, 3])

    with pytest.raises(ValueError, match="same m"):
        train_validation_split(images, labels[:-1])
