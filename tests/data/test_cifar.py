"""CIFAR-10 reader on tiny archives in the python-batch format, built by the tests."""

from __future__ import annotations

import collections
import pickle

import numpy as np
import pytest

from cnn_core.datasets import DatasetError, list_datasets, load_dataset
from cnn_core.datasets.cifar import read_batch

from .conftest import write_cifar_batch, write_cifar_dataset


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar_round_trip(tmp_path, protocol):
    train_x, train_y, test_x, test_y = write_cifar_dataset(tmp_path, protocol=protocol)

    train = load_dataset("cifar10", "train", directory=tmp_path)
    test = load_dataset("cifar10", "test", directory=tmp_path)

    assert train.images.shape == (15, 32, 32, 3)
    assert train.images.flags.c_contiguous
    np.testing.assert_array_equal(train.images, train_x)
    np.testing.assert_array_equal(train.labels, train_y)
    np.testing.assert_array_equal(test.images, test_x)
    np.testing.assert_array_equal(test.labels, test_y)
    assert train.labels.dtype == np.int64
    assert train.classes == ["airplane", "automobile", "bird", "cat", "deer"]


def test_cifar_channel_order(tmp_path):
    images = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    images[0, 0, 1] = (10, 20, 30)
    write_cifar_batch(tmp_path / "b", images, np.array([0]))

    result, _ = read_batch(tmp_path / "b")

    # The pickled row is the red plane, then green, then blue.
    assert result[0, 0, 1].tolist() == [10, 20, 30]
    assert result[0, 1, 0].tolist() == [0, 0, 0]


def test_cifar_env_and_nested_folder(tmp_path, monkeypatch):
    write_cifar_dataset(tmp_path / "cifar-10-batches-py")
    monkeypatch.setenv("CNN_PLAYGROUND_CIFAR10_DIR", str(tmp_path))

    dataset = load_dataset("cifar10", "test")

    assert len(dataset) == 3
    assert dataset.path == str(tmp_path / "cifar-10-batches-py")


def test_cifar_listed(tmp_path):
    write_cifar_dataset(tmp_path)

    (info,) = [
        d for d in list_datasets(directories={"cifar10": tmp_path}) if d["name"] == "cifar10"
    ]

    assert info["available"] is True
    assert info["train_size"] == 15
    assert info["test_size"] == 3
    assert info["input_shape"] == [32, 32, 3]
    assert info["hint"] is None


def test_cifar_truncated_batch(tmp_path):
    write_cifar_dataset(tmp_path)
    path = tmp_path / "data_batch_3"
    path.write_bytes(path.read_bytes()[:-500])

    with pytest.raises(DatasetError, match="data_batch_3.*truncated"):
        load_dataset("cifar10", directory=tmp_path)


def test_cifar_missing_batch(tmp_path):
    write_cifar_dataset(tmp_path)
    (tmp_path / "test_batch").unlink()

    with pytest.raises(DatasetError, match="has no test_batch.*CNN_PLAYGROUND_CIFAR10_DIR"):
        load_dataset("cifar10", "test", directory=tmp_path)


def test_cifar_missing_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("CNN_PLAYGROUND_CIFAR10_DIR", raising=False)

    with pytest.raises(DatasetError, match="no folder is set for the cifar10 dataset"):
        load_dataset("cifar10")
    with pytest.raises(DatasetError, match="is not a folder"):
        load_dataset("cifar10", directory=tmp_path / "absent")


def test_cifar_count_mismatch(tmp_path):
    path = tmp_path / "b"
    data = np.zeros((3, 3072), dtype=np.uint8)
    path.write_bytes(pickle.dumps({b"data": data, b"labels": [0, 1]}))

    with pytest.raises(DatasetError, match="3 images, 2 labels"):
        read_batch(path)


def test_cifar_wrong_row_size(tmp_path):
    path = tmp_path / "b"
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))

    with pytest.raises(DatasetError, match=r"expected uint8 of shape \(N, 3072\)"):
        read_batch(path)


def test_cifar_label_outside_classes(tmp_path):
    write_cifar_dataset(tmp_path)
    write_cifar_batch(tmp_path / "test_batch", np.zeros((1, 32, 32, 3), np.uint8), np.array([7]))

    with pytest.raises(DatasetError, match="names 5 classes"):
        load_dataset("cifar10", "test", directory=tmp_path)


def test_unpickler_rejects_other_globals(tmp_path):
    path = tmp_path / "b"
    path.write_bytes(pickle.dumps(collections.OrderedDict(data=1)))

    with pytest.raises(DatasetError, match="collections.OrderedDict is not allowed"):
        read_batch(path)


def test_unpickler_rejects_object_arrays(tmp_path):
    path = tmp_path / "b"
    path.write_bytes(pickle.dumps({b"data": np.array([1, "x"], dtype=object), b"labels": []}))

    with pytest.raises(DatasetError, match="object arrays are not allowed"):
        read_batch(path)


def test_unpickler_rejects_non_dict(tmp_path):
    path = tmp_path / "b"
    path.write_bytes(pickle.dumps([1, 2, 3]))

    with pytest.raises(DatasetError, match="expected a dict"):
        read_batch(path)
